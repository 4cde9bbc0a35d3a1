"""Observing a stack: every object carrying its label, normalised into records."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from hostform.declare import names
from hostform.declare.canonical import file_digest, spec_hash
from hostform.declare.frozen import Frozen, changed
from hostform.declare.load import LoadedStack
from hostform.declare.names import TOOL_LABELS, Address, Kind
from hostform.runtime.engine import Engine
from hostform.runtime.record import (
    Book,
    ContainerRecordStore,
    Generation,
    is_record,
    network_key,
    newest,
    record_listing,
)
from hostform.runtime.records import (
    Conflict,
    LiveSettings,
    Observed,
    ObservedContainer,
    ObservedNetwork,
    ObservedVolume,
)


def declared_engine_names(loaded: LoadedStack) -> tuple[list[str], list[str], list[str]]:
    """Container, network and volume engine names the stack would use (for conflict checks)."""
    stack = loaded.stack
    containers = [
        names.container_name(stack.name, n, i, spec.replicas)
        for n, spec in stack.services().items()
        for i in range(1, spec.replicas + 1)
    ]
    networks = [names.network_name(stack.name, n) for n, spec in stack.all_networks().items() if not spec.external]
    volumes = [names.volume_name(stack.name, n) for n, v in stack.volumes.items() if not v.external]
    return containers, networks, volumes


def observe_stack(engine: Engine, loaded: LoadedStack, builder: Engine | None = None) -> Observed:
    """The facts a plan needs (read only): the stack's objects, squatters, image IDs, the live
    digest of every declared config file (one read each), missing bind-mount sources. Images
    built on another engine (`builder`) are looked up there: built yet, pushed yet."""
    containers, networks, volumes = declared_engine_names(loaded)
    services = loaded.stack.services()
    images = {s.image for s in services.values()}
    targets = {n: sorted(f.target for f in s.files) for n, s in services.items() if s.files}
    binds = {m.source for s in services.values() for m in s.volumes if m.type == "bind" and loaded.may_probe(m.source)}
    external = [("network", k) for k, n in loaded.stack.networks.items() if n.external]
    external += [("volume", k) for k, v in loaded.stack.volumes.items() if v.external]
    observed = observe(
        engine,
        loaded.name,
        containers,
        networks,
        volumes,
        images,
        file_targets=targets,
        bind_sources=binds,
        external=external,
    )
    if any(s.route is not None for s in loaded.stack.containers.values()) or any(
        c.last_applied and c.last_applied.get("route") for c in observed.containers
    ):
        from hostform.runtime.edge import observe_edge

        observed = replace(observed, edge=observe_edge(engine, names.proxy_name()))
    if not loaded.builds:
        return observed
    ids, digests = dict(observed.image_ids), dict(observed.repo_digests)
    if builder is not None and builder is not engine:
        refs = sorted({b.ref for b in loaded.builds.values()})
        for ref, (found, pushed) in zip(refs, builder.each(builder.image_facts, refs), strict=True):
            ids[ref], digests[ref] = found, pushed
    observed = replace(observed, image_ids=ids, repo_digests=digests)
    return replace(observed, build_changes=_build_changes(loaded, observed))


def _build_changes(loaded: LoadedStack, observed: Observed) -> dict[str, str]:
    from hostform.runtime.build_context import context_changes

    return context_changes(loaded.builds, ((c.name, c.last_applied) for c in observed.containers))


def observe(
    engine: Engine,
    stack: str,
    declared_containers: Iterable[str] = (),
    declared_networks: Iterable[str] = (),
    declared_volumes: Iterable[str] = (),
    images: Iterable[str] = (),
    inspect: bool = True,
    file_targets: Mapping[str, Sequence[str]] | None = None,
    bind_sources: Iterable[str] = (),
    external: Iterable[tuple[str, str]] = (),
) -> Observed:
    """What the engine has for `stack`, plus unmanaged objects squatting declared names.

    `declared_*` are engine names the stack would use; `images` the references
    whose local image IDs the planner needs; `file_targets` maps a resource name
    to the files whose live content hash is wanted (config files reloaded in place);
    `external` (kind, engine name) of networks and volumes declared external, which must exist;
    `bind_sources` host paths to bind-mount, looked for when the engine runs on this
    machine (a remote engine's files are out of reach: it reports a missing one itself).
    The stack's lock comes with the record's listing: a plan and drift read it at no cost.
    """
    label = f"{names.LABEL_STACK}={stack}"
    wanted_images = sorted(set(images))
    wanted_external = sorted(set(external))
    # Two waves of reads; on a remote engine each wave's calls overlap (one round trip for
    # the lists, then the inspects over the engine's pool), on a local socket they run in turn.
    # The record's listing brings its generations (their content in their labels), the lock
    # and the key volume: no read of their own.
    listed, networks, volumes, found_images, missing, bookkeeping = _together(
        engine,
        lambda: engine.list_containers(label=label),
        lambda: engine.list_networks(label=label),
        lambda: engine.list_volumes(label=label),
        lambda: engine.each(engine.image_facts, wanted_images),
        lambda: list(_missing_external(engine, wanted_external)),
        lambda: record_listing(engine, stack),
    )
    mine = [c for c in listed if not is_record(c.get("Labels") or {})]  # an older hostform's generations apart
    book = Book(stack, bookkeeping, network_key(stack, networks))
    key = book.key
    record = book.newest()
    legacy = ContainerRecordStore(engine, stack, listed)
    legacy_heads = legacy.heads() if record is None else []
    targets = file_targets or {}

    def detail(c: dict[str, Any]) -> tuple[dict[str, Any] | None, tuple[tuple[str, str | None], ...]]:
        info = engine.inspect_container(c["Id"]) if inspect else None
        wanted = targets.get((c.get("Labels") or {}).get(names.LABEL_NAME, ""), ())
        return info, file_hashes(engine, c["Id"], wanted, key)

    # Engine names are unique, so only a declared name none of ours holds can be squatted.
    unseen_containers = sorted(set(declared_containers) - {_name_of(c) for c in mine})
    unseen_networks = sorted(set(declared_networks) - {n["Name"] for n in networks})
    unseen_volumes = sorted(set(declared_volumes) - {v["Name"] for v in volumes})
    if legacy_heads:  # kept by an older hostform: read first (it may keep the key files are digested under)
        record = newest(legacy, legacy_heads)
        key = key or (bytes.fromhex(record.key) if record is not None and record.key else None)
    squat_c, squat_n, squat_v, details = _together(
        engine,
        lambda: engine.list_containers(names=unseen_containers) if unseen_containers else [],
        lambda: engine.list_networks(names=unseen_networks) if unseen_networks else [],
        lambda: engine.each(engine.inspect_volume, unseen_volumes),
        lambda: engine.each(detail, mine),
    )
    adopted = None
    if record is not None and record.adopted:
        adopted = _adopted_objects(engine, stack, record, targets, key, sealed=not legacy_heads)
    taken = set() if adopted is None else adopted.idents()
    conflicts = [
        _conflict("container", _name_of(c), c["Id"], c.get("Labels") or {})
        for c in squat_c
        if _name_of(c) in unseen_containers
        and (c.get("Labels") or {}).get(names.LABEL_STACK) != stack
        and c["Id"] not in taken
    ]
    conflicts += [
        _conflict("network", n["Name"], n["Id"], n.get("Labels") or {})
        for n in squat_n
        if n["Name"] in unseen_networks
        and (n.get("Labels") or {}).get(names.LABEL_STACK) != stack
        and n["Id"] not in taken
    ]
    conflicts += [
        _conflict("volume", vname, vname, found.get("Labels") or {})
        for vname, found in zip(unseen_volumes, squat_v, strict=True)
        if found is not None and vname not in taken
    ]
    local = not engine.remote  # bind sources can be looked for here
    declared = {*declared_containers, *declared_networks, *declared_volumes}
    labelled = [("container", _name_of(c)) for c in mine] + [("network", n["Name"]) for n in networks]
    labelled += [("volume", v["Name"]) for v in volumes]
    own = tuple(changed(_container(c, d), file_hashes=h) for c, (d, h) in zip(mine, details, strict=True))
    return Observed(
        stack=stack,
        containers=own + (adopted.containers if adopted else ()),
        networks=tuple(_network(n) for n in networks) + (adopted.networks if adopted else ()),
        volumes=tuple(_volume(v) for v in volumes) + (adopted.volumes if adopted else ()),
        conflicts=tuple(conflicts),
        image_ids={ref: found[0] for ref, found in zip(wanted_images, found_images, strict=True)},
        repo_digests={ref: found[1] for ref, found in zip(wanted_images, found_images, strict=True) if found[1]},
        key=key,
        missing_paths=tuple(sorted(p for p in set(bind_sources) if local and not os.path.exists(p))),
        missing_external=tuple(missing),
        record=record,
        hand_made=tuple((k, n) for k, n in labelled if n not in declared and _unrecorded(record, n)),
        lock_read=True,
        lock_labels=book.lock,
        foreign=book.foreign,
        record_kept_in_containers=bool(legacy_heads),
    )


def _unrecorded(record: Generation | None, engine_name: str) -> bool:
    """Labelled, yet no kept generation lists it (made by hand with copied labels?). Without a
    record (never applied, or by a hostform that kept none) every labelled object counts as
    hostform's, and so does a temporary of an interrupted apply."""
    return record is not None and not record.knows(engine_name) and not names.is_temporary(engine_name)


class Adopted(Frozen):
    """The objects the record says `hostform adopt` took over, as they are now (gone ones left out)."""

    containers: tuple[ObservedContainer, ...] = ()
    networks: tuple[ObservedNetwork, ...] = ()
    volumes: tuple[ObservedVolume, ...] = ()

    def idents(self) -> set[str]:
        return {c.id for c in self.containers} | {n.id for n in self.networks} | {v.engine_name for v in self.volumes}


def _adopted_objects(
    engine: Engine,
    stack: str,
    record: Generation,
    targets: Mapping[str, Sequence[str]],
    key: bytes | None,
    sealed: bool = True,
) -> Adopted:
    """Adopted objects carry no labels: they are found by the ID (a volume: the name) the record
    keeps, one read each, overlapped on a remote engine. An object that now carries a hostform
    stack label is not an adopted one any more (it was replaced): left out. A record an older
    hostform kept in a container has no seal: a container it names is taken only under the
    name `hostform adopt` gave it (`<stack>-<name>`), never one of another name."""
    containers = record.adopted_of("container")
    networks = record.adopted_of("network")
    volumes = record.adopted_of("volume")
    net_names = sorted({n for _, n, _ in networks if n})
    found_c, found_n, found_v = _together(
        engine,
        lambda: engine.each(lambda e: engine.inspect_container(str(e[2].get("id") or "")), containers),
        lambda: engine.list_networks(names=net_names) if net_names else [],
        lambda: engine.each(lambda e: engine.inspect_volume(str(e[2].get("id") or "")), volumes),
    )
    out_c = []
    for (address, _, entry), info in zip(containers, found_c, strict=True):
        if info is None or names.LABEL_STACK in ((info.get("Config") or {}).get("Labels") or {}):
            continue
        if not sealed and str(info.get("Name") or "").lstrip("/") not in _adopt_names(stack, Address.parse(address)):
            continue
        c = adopted_container(info, Address.parse(address), dict(entry.get("spec") or {}))
        out_c.append(changed(c, file_hashes=file_hashes(engine, c.id, targets.get(c.name, ()), key)))
    by_id = {str(n["Id"]): n for n in found_n}
    out_n = [
        adopted_network(by_id[entry["id"]], Address.parse(address).name)
        for address, _, entry in networks
        if entry.get("id") in by_id and names.LABEL_STACK not in (by_id[entry["id"]].get("Labels") or {})
    ]
    out_v = [
        adopted_volume(found, Address.parse(address).name)
        for (address, _, _), found in zip(volumes, found_v, strict=True)
        if found is not None and names.LABEL_STACK not in (found.get("Labels") or {})
    ]
    return Adopted(tuple(out_c), tuple(out_n), tuple(out_v))


def _adopt_names(stack: str, address: Address) -> set[str]:
    one = address.replica or 1
    return {names.container_name(stack, address.name, one, 1), names.container_name(stack, address.name, one, 2)}


def adopted_container(info: dict[str, Any], address: Address, spec: dict[str, Any]) -> ObservedContainer:
    """An unlabelled container (docker inspect) as the resource at `address`, `spec` its last-applied spec."""
    return changed(
        _container(_listing_of(info), info),
        name=address.name,
        kind=Kind(address.kind),
        replica=address.replica or 1,
        last_applied=spec,
        spec_hash=spec_hash(spec),
        adopted=True,
    )


def adopted_network(listed: dict[str, Any], name: str) -> ObservedNetwork:
    """An unlabelled network (a listing entry) as the stack's network `name`."""
    found: ObservedNetwork = _without_tool_labels(replace(_network(listed), name=name, adopted=True))
    return found


def adopted_volume(found: dict[str, Any], name: str) -> ObservedVolume:
    """An unlabelled volume (docker volume inspect) as the stack's volume `name`."""
    volume: ObservedVolume = _without_tool_labels(replace(_volume(found), name=name, adopted=True))
    return volume


def _without_tool_labels(obj: Any) -> Any:
    """An adopted network's or volume's labels as a declaration would give them: Compose's own
    (com.docker.compose.*) are its bookkeeping, as io.hostform.* is ours."""
    return replace(obj, labels={k: v for k, v in obj.labels.items() if not k.startswith(TOOL_LABELS)})


def _listing_of(info: dict[str, Any]) -> dict[str, Any]:
    """A container's inspect in the shape of a listing entry."""
    return {
        "Id": info.get("Id"),
        "Names": [info.get("Name") or "/"],
        "Labels": (info.get("Config") or {}).get("Labels") or {},
        "State": (info.get("State") or {}).get("Status"),
        "ImageID": info.get("Image"),
    }


def _together(engine: Engine, *reads: Callable[[], Any]) -> list[Any]:
    """Independent reads, overlapped on a remote engine."""
    return engine.each(lambda read: read(), reads)


def _missing_external(engine: Engine, wanted: list[tuple[str, str]]) -> Iterator[str]:
    """("network" | "volume", engine name) declared `external = true` that the engine lacks."""
    nets = [n for kind, n in wanted if kind == "network"]
    have = {n["Name"] for n in engine.list_networks(names=nets)} if nets else set()
    for kind, name in wanted:
        if (kind == "network" and name not in have) or (kind == "volume" and engine.inspect_volume(name) is None):
            yield f"{kind} {name}"


def file_hashes(
    engine: Engine, ident: str, targets: Sequence[str], key: bytes | None
) -> tuple[tuple[str, str | None], ...]:
    """Live config files, digested as the canonical spec digests them (keyed by the stack's key)."""
    out: list[tuple[str, str | None]] = []
    for target in targets:
        data = engine.read_file(ident, target)
        if data is None:
            out.append((target, None))
        else:
            out.append((target, file_digest(data, key) if key else hashlib.sha256(data).hexdigest()))
    return tuple(out)


def _name_of(listed: dict[str, Any]) -> str:
    return str((listed.get("Names") or ["/"])[0]).lstrip("/")


def _conflict(kind: str, engine_name: str, ident: str, labels: dict[str, str]) -> Conflict:
    return Conflict(kind, engine_name, ident, labels.get(names.LABEL_STACK))


def _container(listed: dict[str, Any], detail: dict[str, Any] | None) -> ObservedContainer:
    labels = listed.get("Labels") or {}
    state = str(listed.get("State") or "unknown")
    status = str(listed.get("Status") or "")
    health = None
    for word in ("unhealthy", "healthy", "health: starting"):
        if f"({word})" in status:
            health = word.replace("health: ", "")
            break
    exit_code = None
    if detail is not None:
        st = detail.get("State") or {}
        state = str(st.get("Status") or state)
        exit_code = st.get("ExitCode") if state in ("exited", "dead", "restarting") else None
        health = (st.get("Health") or {}).get("Status") or health
    elif state == "exited" and "Exited (" in status:
        exit_code = int(status.split("Exited (", 1)[1].split(")", 1)[0])
    try:
        last_applied = json.loads(labels[names.LABEL_SPEC]) if names.LABEL_SPEC in labels else None
    except ValueError:
        last_applied = None
    return ObservedContainer(
        id=str(listed["Id"]),
        engine_name=_name_of(listed),
        name=labels.get(names.LABEL_NAME, ""),
        kind=names.Kind.JOB if labels.get(names.LABEL_KIND) == names.Kind.JOB else names.Kind.CONTAINER,
        replica=int(labels.get(names.LABEL_REPLICA, "1") or 1),
        image_id=str(listed.get("ImageID") or ""),
        state=state,
        health=health,
        exit_code=exit_code,
        last_applied=last_applied,
        spec_hash=labels.get(names.LABEL_SPEC_HASH),
        settings=_settings(detail) if detail is not None else None,
        created=_rfc3339_seconds(str(detail.get("Created") or "")) if detail else float(listed.get("Created") or 0),
        restart_count=int((detail or {}).get("RestartCount") or 0),
        oom_killed=bool(((detail or {}).get("State") or {}).get("OOMKilled")),
        health_output=_last_health_output(detail),
    )


def _last_health_output(detail: dict[str, Any] | None) -> str | None:
    log = (((detail or {}).get("State") or {}).get("Health") or {}).get("Log") or []
    return str(log[-1].get("Output") or "").strip()[-500:] if log else None


def _settings(detail: dict[str, Any]) -> LiveSettings:
    host = detail.get("HostConfig") or {}
    config = detail.get("Config") or {}
    restart = host.get("RestartPolicy") or {}
    policy = restart.get("Name") or "no"
    if policy == "on-failure" and restart.get("MaximumRetryCount"):
        policy = f"on-failure:{restart['MaximumRetryCount']}"  # as the stack file spells it
    nets = (detail.get("NetworkSettings") or {}).get("Networks") or {}
    short = str(detail.get("Id", ""))[:12]
    networks = tuple(
        sorted((net, tuple(sorted(a for a in (ep.get("Aliases") or []) if a != short))) for net, ep in nets.items())
    )
    env = tuple(sorted(tuple(e.split("=", 1)) if "=" in e else (e, "") for e in (config.get("Env") or [])))
    ports = []
    for port, bindings in sorted(((detail.get("NetworkSettings") or {}).get("Ports") or {}).items()):
        for b in bindings or []:
            ports.append(f"{b.get('HostIp', '')}:{b.get('HostPort', '')}->{port}")
    return LiveSettings(
        restart=policy,
        memory=host.get("Memory") or None,
        memory_reservation=host.get("MemoryReservation") or None,
        cpus=(host.get("NanoCpus") or 0) / 1e9 or None,
        pids_limit=host.get("PidsLimit") if (host.get("PidsLimit") or 0) > 0 else None,  # 0, -1: unlimited
        networks=networks,
        env=env,
        labels=tuple(sorted((config.get("Labels") or {}).items())),
        ports=tuple(ports),
    )


def _network(listed: dict[str, Any]) -> ObservedNetwork:
    labels = listed.get("Labels") or {}
    ipam = (listed.get("IPAM") or {}).get("Config") or []
    return ObservedNetwork(
        id=str(listed["Id"]),
        engine_name=str(listed["Name"]),
        name=labels.get(names.LABEL_NAME, ""),
        driver=str(listed.get("Driver") or "bridge"),
        internal=bool(listed.get("Internal")),
        attachable=bool(listed.get("Attachable")),
        subnet=(ipam[0].get("Subnet") if ipam else None),
        gateway=(ipam[0].get("Gateway") if ipam else None),
        labels=dict(labels),
        created=_rfc3339_seconds(str(listed.get("Created") or "")),
        options=dict(listed.get("Options") or {}),
    )


def _rfc3339_seconds(text: str) -> float:
    """Docker's RFC 3339 time (nanoseconds, any offset) as unix seconds; 0 when unreadable."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()  # 3.11 reads nanoseconds
    except ValueError:
        return 0.0


def _volume(listed: dict[str, Any]) -> ObservedVolume:
    labels = listed.get("Labels") or {}
    return ObservedVolume(
        engine_name=str(listed["Name"]),
        name=labels.get(names.LABEL_NAME, ""),
        driver=str(listed.get("Driver") or "local"),
        labels=dict(labels),
        options=dict(listed.get("Options") or {}),
    )
