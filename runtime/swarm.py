"""The Docker Swarm adapter: a manager's services, tasks, nodes, configs, secrets and overlay
networks as frozen records (no raw dict leaves runtime/), and the primitive actions on them.

Service updates always send a full spec with the version index (`POST /services/{id}/update
?version=N`): a partial update silently resets replicas, networks and labels.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from hostform.declare import names
from hostform.declare.errors import EngineError, NotFound
from hostform.runtime import swarm_lock
from hostform.runtime.engine import Engine
from hostform.runtime.generation import Generation

LABEL_SENT = "io.hostform.sent"  # digest of the fields hostform owns, as sent: a hand update changes them
LABEL_DIGEST = "io.hostform.content"  # a config's or secret's content digest


@dataclass(frozen=True)
class SwarmNode:
    id: str
    hostname: str
    role: str  # manager | worker
    state: str  # ready | down | unknown | disconnected
    availability: str  # active | pause | drain
    labels: tuple[tuple[str, str], ...]
    memory: int  # bytes the node reports
    nano_cpus: int


@dataclass(frozen=True)
class SwarmTask:
    id: str
    service_id: str
    slot: int
    node_id: str
    state: str  # new | pending | assigned | ... | running | complete | failed | rejected | shutdown
    desired_state: str
    error: str
    message: str
    updated: str  # the status timestamp, as the engine gives it (ISO 8601)
    created: float = 0.0  # unix seconds, on the manager's clock
    spec_digest: str = ""  # the task's spec: equal to its service's template_digest when it runs the current spec
    container_id: str = ""  # on the task's node (its engine alone can inspect it: health output, logs)


@dataclass(frozen=True)
class SwarmService:
    id: str
    engine_name: str
    name: str  # the resource's key in the stack file
    kind: str  # container | job
    version: int
    image: str  # as the spec holds it (tag@digest)
    mode: str  # replicated | global | replicated-job
    replicas: int | None
    last_applied: dict[str, Any] | None
    spec_hash: str | None
    sent: str | None  # LABEL_SENT as hostform left it
    owned: str  # the same digest over the live spec now
    update_state: str | None  # updating | paused | completed | rollback_started | rollback_paused | ...
    update_message: str
    has_previous: bool = False
    template_digest: str = ""  # of the task template now: tasks running it are up to date
    networks: tuple[str, ...] = ()  # IDs of the networks its tasks join (the spec's targets, as Swarm keeps them)
    force_update: int = 0  # TaskTemplate.ForceUpdate: kept as is by every update, raised by --replace


@dataclass(frozen=True)
class SwarmFile:
    """A Swarm config or secret of the stack (content never read back)."""

    id: str
    engine_name: str
    kind: str  # config | secret
    name: str  # the [files.X] key


@dataclass(frozen=True)
class SwarmNetwork:
    """An overlay network of the stack; the fields plans/diff.py compares with a NetworkSpec."""

    id: str
    engine_name: str
    name: str
    driver: str
    attachable: bool
    labels: dict[str, str] = field(default_factory=dict)
    internal: bool = False
    subnet: str | None = None  # of the first IPAM pool
    gateway: str | None = None
    options: dict[str, str] = field(default_factory=dict)  # driver options
    adopted: bool = False  # `hostform adopt` is for one host: a Swarm network is always made by hostform


@dataclass(frozen=True)
class SwarmObserved:
    stack: str
    services: tuple[SwarmService, ...]
    tasks: tuple[SwarmTask, ...]
    nodes: tuple[SwarmNode, ...]
    files: tuple[SwarmFile, ...]
    networks: tuple[SwarmNetwork, ...]
    key: bytes | None
    images: dict[str, str | None]  # declared reference -> reference pinned by digest (None: unresolved)
    image_problems: dict[str, str] = field(default_factory=dict)  # reference -> why it cannot be used
    build_changes: dict[str, str] = field(default_factory=dict)  # "OLD_REF -> NEW_REF": what changed in the context
    record: Generation | None = None  # the newest generation of the stack's record (runtime.swarm_record)
    lock_read: bool = False  # the stack lock was read in the wave (as runtime.records.Observed)
    lock_labels: dict[str, str] | None = None  # its config's labels; None: no lock

    def unrecorded(self, engine_name: str) -> bool:
        """Labelled, yet no kept generation lists it: made by hand with copied labels? Without a
        record (never applied, or by a hostform that kept none) every labelled object is hostform's."""
        return self.record is not None and not self.record.knows(engine_name)

    @property
    def hand_made(self) -> list[tuple[str, str]]:
        """(kind, engine name) of the services, configs, secrets and networks no generation lists,
        declared or not (a declared one is the plan's to update; callers leave those out)."""
        found = [(s.kind, s.engine_name) for s in self.services]
        found += [(f.kind, f.engine_name) for f in self.files]
        found += [("network", n.engine_name) for n in self.networks]
        return [(k, n) for k, n in found if self.unrecorded(n)]

    def service(self, name: str) -> SwarmService | None:
        """The declared service `name` (`<stack>_<name>`): a copy made by hand with its labels is not it."""
        return next((s for s in self.services if s.name == name and s.engine_name == f"{self.stack}_{name}"), None)

    def tasks_of(self, service_id: str) -> list[SwarmTask]:
        return [t for t in self.tasks if t.service_id == service_id]

    def node_name(self, node_id: str) -> str:
        return next((n.hostname for n in self.nodes if n.id == node_id), node_id[:12] or "(no node)")

    def tokens(self) -> dict[str, str]:
        out = {f"service {s.engine_name}": f"{s.id[:12]}/{s.version}/{s.spec_hash}" for s in self.services}
        out.update({f"network {n.engine_name}": n.id[:12] for n in self.networks})
        out.update({f"{f.kind} {f.engine_name}": f.id[:12] for f in self.files})
        out.update({f"image {ref}": pinned or "unresolved" for ref, pinned in self.images.items()})
        return out

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.tokens(), sort_keys=True).encode()).hexdigest()[:24]


# ---------------------------------------------------------------- reading


def is_manager(engine: Engine) -> bool:
    """GET /swarm answers on a manager only (a worker or a single engine says so with a 503)."""
    try:
        engine.swarm_info()
    except EngineError as exc:
        if "not a swarm manager" in str(exc) or "not part of a swarm" in str(exc):
            return False
        raise
    return True


def require_manager(engine: Engine) -> None:
    if not is_manager(engine):
        raise not_a_manager(engine)


def not_a_manager(engine: Engine) -> EngineError:
    return EngineError(
        f"the engine at {engine.address} is not a Swarm manager: target = 'swarm' needs a manager's address "
        "(--host, DOCKER_HOST or the Docker context)"
    )


def observe_swarm(
    engine: Engine,
    stack: str,
    images: list[str],
    with_tasks: bool = True,
    with_nodes: bool = True,
    check_manager: bool = False,
    with_lock: bool = False,
) -> SwarmObserved:
    """The stack's objects on the manager, read in one wave: the listings (by the stack's label,
    filtered on the manager), the record's generations (they come with the config listing, data
    and all) and each image's registry digest go out together, so the plan waits for the slowest
    answer rather than for their sum. Tasks (for waits and drift) and nodes (for scheduling
    checks and drift) only when asked: a no-op plan needs neither. `check_manager`: whether the
    engine is a manager is asked in the same wave (`require_manager`'s error when it is not).
    `with_lock`: the stack lock's config is listed in the wave too (a plan reads it when it has changes)."""
    from concurrent.futures import ThreadPoolExecutor

    stack_label = f"{names.LABEL_STACK}={stack}"
    label = {"label": stack_label}
    reads: dict[str, Callable[[], list[dict[str, Any]]]] = {
        "services": lambda: engine.list_services(label),
        "networks": lambda: engine.list_networks(label=stack_label),
        "configs": lambda: engine.list_configs(label),
        "secrets": lambda: engine.list_secrets(label),
    }
    if with_tasks:
        reads["tasks"] = lambda: engine.list_tasks(label)
    if with_nodes:
        reads["nodes"] = engine.list_nodes
    if with_lock:
        reads["lock"] = lambda: engine.list_configs({"name": names.lock_name(stack)}, what="read the stack lock")
    refs = sorted({r for r in images if "@sha256:" not in r})
    with ThreadPoolExecutor(max_workers=len(reads) + min(len(refs), 8) + 1) as pool:
        manager = pool.submit(is_manager, engine) if check_manager else None
        pending = {key: pool.submit(read) for key, read in reads.items()}
        digests = {ref: pool.submit(_distribution, engine, ref) for ref in refs}
        if manager is not None and not manager.result():  # before the listings' own errors on a worker
            raise not_a_manager(engine)
        got = {key: future.result() for key, future in pending.items()}
        resolved = {ref: future.result() for ref, future in digests.items()}
    services = tuple(sorted((_service(s) for s in got["services"]), key=lambda s: s.engine_name))
    ours = {s.id for s in services}
    tasks = tuple(_task(t) for t in got.get("tasks", ()) if t.get("ServiceID") in ours)
    networks = tuple(_network(n) for n in got["networks"] if n.get("Scope") == "swarm")
    listed: list[dict[str, Any]] = []
    files = tuple(_files_of((("config", got["configs"]), ("secret", got["secrets"])), listed))
    record = _newest_generation(engine, stack, listed)
    key = next(
        (bytes.fromhex(n.labels[names.LABEL_KEY]) for n in networks if names.LABEL_KEY in n.labels),
        None,
    )
    pinned, problems = _pinned(engine, images, resolved)
    found_nodes = _nodes_of(got.get("nodes", []))
    lock = swarm_lock.labels_of(names.lock_name(stack), got["lock"]) if with_lock else None
    return SwarmObserved(
        stack,
        services,
        tasks,
        found_nodes,
        files,
        networks,
        key,
        pinned,
        problems,
        record=record,
        lock_read=with_lock,
        lock_labels=lock,
    )


def _newest_generation(engine: Engine, stack: str, listed: list[dict[str, Any]]) -> Generation | None:
    """The record's newest readable generation, from the config listing's data (an unreadable
    one, or a listing without data, costs an inspect)."""
    from hostform.runtime.record import newest
    from hostform.runtime.swarm_record import ConfigRecordStore, heads_of_configs

    return newest(ConfigRecordStore(engine, stack, listed), heads_of_configs(stack, listed))


def nodes(engine: Engine) -> tuple[SwarmNode, ...]:
    return _nodes_of(engine.list_nodes())


def _nodes_of(listed: list[dict[str, Any]]) -> tuple[SwarmNode, ...]:
    return tuple(sorted((_node(n) for n in listed), key=lambda n: n.hostname))


def _node(raw: dict[str, Any]) -> SwarmNode:
    desc = raw.get("Description") or {}
    res = desc.get("Resources") or {}
    spec = raw.get("Spec") or {}
    return SwarmNode(
        id=raw["ID"],
        hostname=desc.get("Hostname", ""),
        role=spec.get("Role", "worker"),
        state=(raw.get("Status") or {}).get("State", "unknown"),
        availability=spec.get("Availability", "active"),
        labels=tuple(sorted((spec.get("Labels") or {}).items())),
        memory=int(res.get("MemoryBytes") or 0),
        nano_cpus=int(res.get("NanoCPUs") or 0),
    )


def _service(raw: dict[str, Any]) -> SwarmService:
    spec = raw.get("Spec") or {}
    labels = spec.get("Labels") or {}
    mode = spec.get("Mode") or {}
    kind_of_mode = "global" if "Global" in mode else "replicated-job" if "ReplicatedJob" in mode else "replicated"
    replicas = (mode.get("Replicated") or {}).get("Replicas")
    try:
        last = json.loads(labels[names.LABEL_SPEC]) if names.LABEL_SPEC in labels else None
    except ValueError:
        last = None
    status = raw.get("UpdateStatus") or {}
    return SwarmService(
        id=raw["ID"],
        engine_name=spec.get("Name", ""),
        name=labels.get(names.LABEL_NAME, ""),
        kind=labels.get(names.LABEL_KIND, "container"),
        version=int((raw.get("Version") or {}).get("Index", 0)),
        image=((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", ""),
        mode=kind_of_mode,
        replicas=None if replicas is None else int(replicas),
        last_applied=last,
        spec_hash=labels.get(names.LABEL_SPEC_HASH),
        sent=labels.get(LABEL_SENT),
        owned=owned_digest(spec),
        update_state=status.get("State"),
        update_message=status.get("Message", ""),
        has_previous=bool(raw.get("PreviousSpec")),
        template_digest=template_digest(spec.get("TaskTemplate") or {}),
        networks=tuple(str(n.get("Target", "")) for n in _attachments(spec)),
        force_update=int((spec.get("TaskTemplate") or {}).get("ForceUpdate") or 0),
    )


def _attachments(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """A service spec's network attachments (the task template's; old clients set the top-level list)."""
    return list((spec.get("TaskTemplate") or {}).get("Networks") or spec.get("Networks") or [])


def engine_time(text: str) -> float:
    """An engine timestamp (RFC 3339 with nanoseconds) as unix seconds."""
    from datetime import datetime

    if not text:
        return 0.0
    head, _, frac = text.rstrip("Z").partition(".")
    try:
        seconds = datetime.fromisoformat(head + "+00:00").timestamp()
    except ValueError:
        return 0.0
    return seconds + float(f"0.{frac[:9]}" if frac else 0)


def _task(raw: dict[str, Any]) -> SwarmTask:
    status = raw.get("Status") or {}
    return SwarmTask(
        id=raw["ID"],
        service_id=raw.get("ServiceID", ""),
        slot=int(raw.get("Slot") or 0),
        node_id=raw.get("NodeID", ""),
        state=status.get("State", ""),
        desired_state=raw.get("DesiredState", ""),
        error=status.get("Err", ""),
        message=status.get("Message", ""),
        updated=status.get("Timestamp", ""),
        created=engine_time(raw.get("CreatedAt", "")),
        spec_digest=template_digest(raw.get("Spec") or {}),
        container_id=str((status.get("ContainerStatus") or {}).get("ContainerID") or ""),
    )


def template_digest(task_spec: dict[str, Any]) -> str:
    """A task carries a copy of its service's task template (plus the runtime's name)."""
    view = {k: v for k, v in task_spec.items() if k != "Runtime"}
    return hashlib.sha256(json.dumps(view, sort_keys=True).encode()).hexdigest()[:16]


def _network(raw: dict[str, Any]) -> SwarmNetwork:
    labels = raw.get("Labels") or {}
    pools = (raw.get("IPAM") or {}).get("Config") or [{}]
    return SwarmNetwork(
        id=raw["Id"],
        engine_name=raw["Name"],
        name=labels.get(names.LABEL_NAME, ""),
        driver=raw.get("Driver", ""),
        attachable=bool(raw.get("Attachable")),
        labels=labels,
        internal=bool(raw.get("Internal")),
        subnet=pools[0].get("Subnet") or None,
        gateway=pools[0].get("Gateway") or None,
        options=dict(raw.get("Options") or {}),
    )


def _files(engine: Engine, label: str, records: list[dict[str, Any]] | None = None) -> list[SwarmFile]:
    """The stack's configs and secrets; the record's generations (configs with the stack's label
    too) go to `records` when given, the lock nowhere."""
    filters = {"label": label}
    listings = [
        ("config", engine.list_configs(filters)),
        ("secret", engine.list_secrets(filters)),
    ]
    return _files_of(listings, records)


def _files_of(listings: Any, records: list[dict[str, Any]] | None = None) -> list[SwarmFile]:
    """SwarmFiles of (kind, listing) pairs, as `_files` describes."""
    out = []
    for kind, listing in listings:
        for raw in listing:
            spec = raw.get("Spec") or {}
            labels = spec.get("Labels") or {}
            if labels.get(names.LABEL_KIND) == names.KIND_RECORD:
                if records is not None:
                    records.append(raw)
                continue
            if labels.get(names.LABEL_KIND) == "lock":
                continue
            out.append(SwarmFile(raw["ID"], spec.get("Name", ""), kind, labels.get(names.LABEL_NAME, "")))
    return sorted(out, key=lambda f: (f.kind, f.engine_name))


def resolve_images(engine: Engine, refs: list[str]) -> tuple[dict[str, str | None], dict[str, str]]:
    """Each reference pinned by its registry digest, as `docker stack deploy` does, so that every
    node runs the same bits. A reference the registry does not know is a problem, said plainly."""
    return _pinned(engine, refs, {ref: _distribution(engine, ref) for ref in set(refs) if "@sha256:" not in ref})


def _distribution(engine: Engine, ref: str) -> str | EngineError:
    """The registry's digest of `ref`, or the engine's error (kept, to be explained after the wave)."""
    try:
        data = engine.distribution(ref)
    except EngineError as exc:
        return exc
    return str(data["Descriptor"]["digest"])


def _pinned(
    engine: Engine, refs: list[str], resolved: dict[str, str | EngineError]
) -> tuple[dict[str, str | None], dict[str, str]]:
    pinned: dict[str, str | None] = {}
    problems: dict[str, str] = {}
    for ref in sorted(set(refs)):
        if "@sha256:" in ref:
            pinned[ref] = ref
            continue
        found = resolved[ref]
        if isinstance(found, EngineError):
            pinned[ref] = None
            problems[ref] = _image_problem(engine, ref, str(found))
        else:
            pinned[ref] = f"{ref}@{found}"
    return pinned, problems


def _image_problem(engine: Engine, ref: str, why: str) -> str:
    registry = ref.split("/", 1)[0] if "/" in ref and any(c in ref.split("/", 1)[0] for c in ".:") else "docker.io"
    if engine.image_id(ref) is not None:
        return (
            f"image {ref!r} exists only on the engine at {engine.address}, not in its registry {registry}: "
            "push it to a registry every node can reach and name it there"
        )
    return f"image {ref!r} cannot be resolved in its registry {registry}: {why.split(': ', 1)[-1]}"


# ---------------------------------------------------------------- the fields hostform owns


_OWNED_TASK = ("Resources", "Placement", "RestartPolicy")
_OWNED_CONTAINER = (
    "Image",
    "Env",
    "Args",
    "Command",
    "Labels",
    "User",
    "Dir",
    "Hostname",
    "ReadOnly",
    "StopSignal",
    "StopGracePeriod",
    "Healthcheck",
    "Hosts",
    "Mounts",
)


def owned_digest(spec: dict[str, Any]) -> str:
    """A digest over the fields hostform sets, with empty values dropped: Swarm fills defaults in
    (they never count), and a `docker service update` by hand changes it."""
    task = spec.get("TaskTemplate") or {}
    container = task.get("ContainerSpec") or {}
    owned: dict[str, Any] = {k: container.get(k) for k in _OWNED_CONTAINER}
    owned["Env"] = sorted(owned["Env"] or [])
    view = {
        "container": owned,
        "task": {k: task.get(k) for k in _OWNED_TASK},
        "configs": _references(container.get("Configs"), "ConfigName"),
        "secrets": _references(container.get("Secrets"), "SecretName"),
        "mode": spec.get("Mode"),
        "update": spec.get("UpdateConfig"),
        "rollback": spec.get("RollbackConfig"),
        "endpoint": spec.get("EndpointSpec"),
    }
    return hashlib.sha256(json.dumps(_pruned(view), sort_keys=True).encode()).hexdigest()[:16]


def _references(refs: list[dict[str, Any]] | None, key: str) -> list[tuple[str, str]]:
    return sorted((r.get(key, ""), (r.get("File") or {}).get("Name", "")) for r in refs or [])


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [], "", 0, False)}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


# ---------------------------------------------------------------- actions


def create_service(engine: Engine, body: dict[str, Any]) -> str:
    result = engine.post_json(f"create service {body['Name']}", "/services/create", body)
    return str(result["ID"])


def update_service(engine: Engine, service_id: str, version: int, body: dict[str, Any], rollback: bool = False) -> None:
    """The full spec with the version index it was read at."""
    params: dict[str, Any] = {"version": version}
    if rollback:
        params["rollback"] = "previous"
    path = f"/services/{quote(service_id, safe='')}/update"
    engine.post_json(f"update service {body['Name']}", path, body, params)


def inspect_service(engine: Engine, ident: str) -> SwarmService | None:
    try:
        return _service(engine.inspect_service(ident))
    except NotFound:
        return None


def service_tasks(engine: Engine, service_id: str) -> list[SwarmTask]:
    raw = engine.list_tasks({"service": service_id})
    return [_task(t) for t in raw]


def services_on(engine: Engine, stack: str, network_id: str) -> list[SwarmService]:
    """The stack's services whose tasks join the network."""
    raw = engine.list_services({"label": f"{names.LABEL_STACK}={stack}"})
    return [s for s in (_service(r) for r in raw) if network_id in s.networks]


def detach_network(engine: Engine, service_id: str, network_id: str) -> None:
    """The service's live spec without the network (a rolling update), so the network can go."""
    raw = engine.inspect_service(service_id)
    spec = raw["Spec"]
    task = spec.setdefault("TaskTemplate", {})
    task["Networks"] = [n for n in _attachments(spec) if n.get("Target") != network_id]
    spec.pop("Networks", None)
    update_service(engine, service_id, int(raw["Version"]["Index"]), spec)


def remove_service(engine: Engine, ident: str) -> None:
    engine.call(f"remove service {ident}", engine.api.remove_service, ident)


def create_network(engine: Engine, name: str, labels: dict[str, str], **options: Any) -> str:
    result = engine.call(
        f"create network {name}",
        engine.api.create_network,
        name,
        driver="overlay",
        attachable=True,
        labels=labels,
        check_duplicate=True,
        **options,
    )
    return str(result["Id"])


def remove_network(engine: Engine, ident: str, patience: float = 15.0) -> None:
    """Removed, and waited for: the manager lists a removed overlay network for a few seconds
    more, and a plan made meanwhile would take it for present."""
    import time

    engine.remove_network(ident)
    deadline = time.monotonic() + patience
    while engine.list_networks(ids=[ident]) and time.monotonic() < deadline:
        time.sleep(0.25)


def create_file(engine: Engine, kind: str, name: str, data: bytes, labels: dict[str, str]) -> str:
    create = engine.api.create_config if kind == "config" else engine.api.create_secret
    result = engine.call(f"create {kind} {name}", create, name, data, labels=labels)
    return str(result["ID"])


def remove_file(engine: Engine, kind: str, ident: str) -> None:
    remove = engine.api.remove_config if kind == "config" else engine.api.remove_secret
    engine.call(f"remove {kind} {ident}", remove, ident)


def file_ids(engine: Engine, stack: str) -> dict[str, str]:
    """engine name -> ID of the stack's configs and secrets (for the references services carry)."""
    return {f.engine_name: f.id for f in _files(engine, f"{names.LABEL_STACK}={stack}")}
