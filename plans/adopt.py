"""`hostform adopt`: take over running containers, networks and volumes without recreating them.

load -> observe -> match -> read live specs -> show (adoption, then what apply would do) ->
confirm -> rename -> record. Nothing is recreated, updated or removed here: a container
is only renamed to hostform's name (`docker rename`, the same container), and the record
gets a generation listing what was adopted and each container's live spec, which is
its last-applied spec from then on (labels cannot be added to a running container).
Differences the live specs show are left to `hostform apply`, which the preview shows.

Matching, per declared container or job replica that hostform does not run yet:
1. the `adopt = "old-name"` key (one name per replica);
2. a Compose container of the project (`com.docker.compose.project`, `.service`,
   `.container-number`; one-off `run` containers are left out);
3. an unlabelled container under the very name hostform would give it.
Networks and volumes are adopted under the engine names the stack gives them
(`<stack>_<key>`, which is Compose's `<project>_<key>` when the stack keeps the
project's name). Only objects without a hostform stack label are adopted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from hostform.declare import names
from hostform.declare.canonical import service_spec
from hostform.declare.errors import HostformError
from hostform.declare.frozen import changed
from hostform.declare.load import LoadedStack
from hostform.declare.names import Address, Kind
from hostform.plans.diff import make_plan
from hostform.plans.model import Action, Change, Plan
from hostform.plans.render import Line, counted, plan_lines, print_lines
from hostform.runtime.container_config import naming
from hostform.runtime.engine import Engine
from hostform.runtime.live_spec import joined_ids, live_files, live_spec
from hostform.runtime.observe import adopted_container, adopted_network, adopted_volume, file_hashes
from hostform.runtime.records import Observed, ObservedContainer, ObservedNetwork, ObservedVolume

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
COMPOSE_NUMBER = "com.docker.compose.container-number"
COMPOSE_ONEOFF = "com.docker.compose.oneoff"


@dataclass(frozen=True)
class Found:
    """A container to adopt: how it was matched, and its name before."""

    container: ObservedContainer  # already under hostform's name (as after the rename)
    old_name: str
    how: str  # "adopt key", "Compose project P", "hostform's name"


@dataclass(frozen=True)
class Adoption:
    containers: tuple[Found, ...]
    networks: tuple[ObservedNetwork, ...]
    volumes: tuple[ObservedVolume, ...]
    key: bytes
    preview: Observed  # the observation as it will be once adopted
    plan: Plan  # what `hostform apply` does after the adoption

    @property
    def empty(self) -> bool:
        return not (self.containers or self.networks or self.volumes)

    def entries(self) -> dict[str, dict[str, Any]]:
        """The record's `adopted`: per address, the ID (a volume: its name) and a container's live spec."""
        out: dict[str, dict[str, Any]] = {}
        for f in self.containers:
            c = f.container
            address = str(_address(self.plan, c))
            out[address] = {"id": c.id, "spec": c.last_applied or {}}
        out.update({f"networks.{n.name}": {"id": n.id} for n in self.networks})
        out.update({f"volumes.{v.name}": {"id": v.engine_name} for v in self.volumes})
        return out


def refuse_swarm(loaded: LoadedStack) -> HostformError:
    return HostformError(
        f'{loaded.path}: [stack] target = "swarm": `hostform adopt` takes over containers on one host only '
        '(target = "host"); Swarm services cannot be adopted: use `hostform apply`, which creates them'
    )


def find_adoption(engine: Engine, loaded: LoadedStack, observed: Observed, project: str) -> Adoption:
    """What `hostform adopt` would take over, and the plan once it has (read only)."""
    from hostform.runtime.record import held_by_others

    key = observed.key or os.urandom(16)
    held = held_by_others(engine, loaded.name)
    found = list(_containers(engine, loaded, observed, project, key, held))
    networks = list(_networks(engine, loaded, observed, held))
    volumes = list(_volumes(engine, loaded, observed, held))
    taken = {f.container.id for f in found} | {n.id for n in networks} | {v.engine_name for v in volumes}
    taken_names = {f.container.engine_name for f in found} | {n.engine_name for n in networks}
    taken_names |= {v.engine_name for v in volumes}
    preview = replace(
        observed,
        containers=observed.containers + tuple(f.container for f in found),
        networks=observed.networks + tuple(networks),
        volumes=observed.volumes + tuple(volumes),
        conflicts=tuple(c for c in observed.conflicts if c.id not in taken and c.engine_name not in taken_names),
        key=key,
    )
    plan = make_plan(loaded, preview)
    return Adoption(tuple(found), tuple(networks), tuple(volumes), key, preview, plan)


def _address(plan: Plan, c: ObservedContainer) -> Address:
    for change in plan.changes:
        if change.current_id == c.id:
            return Address.parse(change.address)
    return Address.of(c.kind, c.name, c.replica)


def refuse_held(loaded: LoadedStack, what: str, ident: str, held: dict[str, str]) -> None:
    """An object another stack's record holds (it adopted it) is that stack's: never adopted twice."""
    if ident in held:
        raise HostformError(
            f"{loaded.path}: {what} is held by stack {held[ident]!r} (adopted there; its record says so): "
            "an object is adopted by one stack only; `hostform destroy` that stack or drop it there first"
        )


def _containers(
    engine: Engine, loaded: LoadedStack, observed: Observed, project: str, key: bytes, held: dict[str, str]
) -> list[Found]:
    stack = loaded.stack
    have = {(c.name, c.replica) for c in observed.containers}
    compose = {}
    for c in engine.list_containers(label=f"{COMPOSE_PROJECT}={project}"):
        labels = c.get("Labels") or {}
        if labels.get(COMPOSE_ONEOFF, "False") == "True" or names.LABEL_STACK in labels:
            continue
        compose[(labels.get(COMPOSE_SERVICE, ""), labels.get(COMPOSE_NUMBER, "1"))] = c
    out: list[Found] = []
    used: set[str] = set()
    for name, spec in sorted(stack.services().items()):
        kind = Kind.JOB if name in stack.jobs else Kind.CONTAINER
        for replica in range(1, spec.replicas + 1):
            if (name, replica) in have:
                continue  # hostform runs it already
            target = names.container_name(stack.name, name, replica, spec.replicas)
            table = f"{kind.table}.{name}"
            listed, how = None, ""
            if replica <= len(spec.adopt):
                wanted = spec.adopt[replica - 1]
                listed = _by_name(engine, wanted)
                if listed is None:
                    raise HostformError(f"{loaded.path}: {table}.adopt: no container named {wanted!r} on the engine")
                how = f"adopt = {wanted!r}"
            elif (name, str(replica)) in compose:
                listed, how = compose[(name, str(replica))], f"Compose project {project!r}"
            else:
                listed, how = _by_name(engine, target), "hostform's name"
            if listed is None:
                continue
            labels = listed.get("Labels") or {}
            if names.LABEL_STACK in labels:
                raise HostformError(
                    f"{loaded.path}: {table}: container {_name_of(listed)!r} belongs to stack "
                    f"{labels[names.LABEL_STACK]!r}; hostform adopts only containers no stack manages"
                )
            refuse_held(loaded, f"{table}: container {_name_of(listed)!r}", str(listed["Id"]), held)
            if listed["Id"] in used:
                raise HostformError(f"{loaded.path}: {table}: container {_name_of(listed)!r} is matched twice")
            used.add(listed["Id"])
            out.append(_read(engine, loaded, name, Address.of(kind, name, replica, spec.replicas), listed, how, key))
            out[-1] = replace(out[-1], container=changed(out[-1].container, engine_name=target))
    return out


def _read(
    engine: Engine, loaded: LoadedStack, name: str, address: Address, listed: dict[str, Any], how: str, key: bytes
) -> Found:
    """The container's live spec, read back into the canonical shape."""
    info = engine.inspect_container(str(listed["Id"]))
    if info is None:
        raise HostformError(f"container {_name_of(listed)!r} is gone")
    spec = loaded.stack.services()[name]
    declared_files = service_spec(loaded, name, key)["files"]
    found = {f["target"]: engine.read_file(info["Id"], f["target"]) for f in declared_files}
    image = engine.image_config(str(info.get("Image") or "")) or {}
    files = live_files(declared_files, found, key)
    joined = {i: str((engine.inspect_container(i) or {}).get("Name") or "").lstrip("/") for i in joined_ids(info)}
    canonical = live_spec(info, image, spec, name, naming(loaded), loaded.stack.all_networks(), key, files, joined)
    container = adopted_container(info, address, canonical)
    hashes = file_hashes(engine, container.id, [f["target"] for f in declared_files], key)
    return Found(changed(container, file_hashes=hashes), _name_of(listed), how)


def _networks(engine: Engine, loaded: LoadedStack, observed: Observed, held: dict[str, str]) -> list[ObservedNetwork]:
    have = {n.name for n in observed.networks}
    wanted = {
        names.network_name(loaded.name, k): k
        for k, spec in loaded.stack.all_networks().items()
        if not spec.external and k not in have
    }
    if not wanted:
        return []
    listed = engine.list_networks(names=sorted(wanted))
    out = [
        n
        for n in sorted(listed, key=lambda n: str(n["Name"]))
        if n["Name"] in wanted and names.LABEL_STACK not in (n.get("Labels") or {})
    ]
    for n in out:
        refuse_held(loaded, f"networks.{wanted[n['Name']]}: network {n['Name']!r}", str(n["Id"]), held)
    return [adopted_network(n, wanted[n["Name"]]) for n in out]


def _volumes(engine: Engine, loaded: LoadedStack, observed: Observed, held: dict[str, str]) -> list[ObservedVolume]:
    have = {v.name for v in observed.volumes}
    out = []
    for k, spec in sorted(loaded.stack.volumes.items()):
        if spec.external or k in have:
            continue
        found = engine.inspect_volume(names.volume_name(loaded.name, k))
        if found is not None and names.LABEL_STACK not in (found.get("Labels") or {}):
            refuse_held(loaded, f"volumes.{k}: volume {found['Name']!r}", str(found["Name"]), held)
            out.append(adopted_volume(found, k))
    return out


def _by_name(engine: Engine, name: str) -> dict[str, Any] | None:
    for c in engine.list_containers(names=[name]):
        if _name_of(c) == name:
            return c
    return None


def _name_of(listed: dict[str, Any]) -> str:
    return str((listed.get("Names") or ["/"])[0]).lstrip("/")


# ---------------------------------------------------------------- showing it


def adoption_lines(adoption: Adoption, stack: str) -> list[Line]:
    """`= adopt` per object; a container whose declaration differs from what runs shows the reasons
    and what apply then does (in place, or a replacement); then apply's plan as a whole."""
    plan = adoption.plan
    by_id = {c.current_id: c for c in plan.changes if c.current_id}
    lines: list[Line] = []
    if adoption.empty:
        lines.append(((f"Nothing to adopt: no running object matches stack {stack!r}.", "bold"),))
    else:
        lines.append(((f"hostform will adopt these objects into stack {stack!r} (nothing is recreated):", ""),))
        lines.append((("", ""),))
    for f in adoption.containers:
        c = f.container
        change = by_id.get(c.id)
        renamed = f", renamed to {c.engine_name}" if f.old_name != c.engine_name else ""
        address = change.address if change else f"{c.kind.table}.{c.name}"
        lines.append(
            (
                ("    = ", "cyan"),
                (f"adopt {c.kind} ", "bold"),
                (f.old_name, "bold"),
                (f"  ({address}; {c.id[:12]}; matched by {f.how}){renamed}", "dim"),
            )
        )
        if change is not None and change.action is not Action.NOOP:
            lines.extend(_then(change))
    for n in adoption.networks:
        lines.append(
            (("    = ", "cyan"), ("adopt network ", "bold"), (n.engine_name, "bold"), (f"  (networks.{n.name})", "dim"))
        )
    for v in adoption.volumes:
        lines.append(
            (
                ("    = ", "cyan"),
                ("adopt volume ", "bold"),
                (v.engine_name, "bold"),
                (f"  (volumes.{v.name}; its data stays, never deleted by hostform)", "dim"),
            )
        )
    if not adoption.empty:
        found = adoption.containers
        lines.append((("", ""),))
        lines.append(
            (
                (
                    f"Adopt: {counted(len(found), 'container')} "
                    f"({sum(f.old_name != f.container.engine_name for f in found)} renamed), "
                    f"{counted(len(adoption.networks), 'network')}, {counted(len(adoption.volumes), 'volume')}.",
                    "bold",
                ),
            )
        )
    lines.append((("", ""),))
    lines.append((("After the adoption, `hostform apply` would:", ""),))
    lines.extend(plan_lines(plan, empty=f"do nothing: stack {stack!r} matches the host."))
    return lines


def _then(change: Change) -> list[Line]:
    verb = {Action.UPDATE: "then updated in place by apply", Action.REPLACE: "then replaced by apply"}.get(
        change.action, f"then {change.action.value} by apply"
    )
    out: list[Line] = [((f"        differs from the declaration: {verb}", "yellow"),)]
    out += [((f"        ~ {reason}", "yellow"),) for reason in change.reasons]
    return out


def print_adoption(adoption: Adoption, stack: str) -> None:
    print_lines(adoption_lines(adoption, stack))


# ---------------------------------------------------------------- doing it


def perform(engine: Engine, adoption: Adoption) -> tuple[Adoption, list[str]]:
    """Rename each adopted container to hostform's name (the same container: its ID is kept). A rename
    the engine refuses (a container restarting in a loop, say) leaves that container adopted under
    its old name, and said so: the plan then renames it in place. Returns the adoption as it is now."""
    failed: dict[str, str] = {}
    for f in adoption.containers:
        if f.old_name != f.container.engine_name:
            try:
                engine.rename(f.container.id, f.container.engine_name)
            except HostformError as exc:
                failed[f.container.id] = " ".join(exc.lines())
    if not failed:
        return adoption, []
    kept = {f.container.id: f.old_name for f in adoption.containers if f.container.id in failed}
    preview = replace(
        adoption.preview,
        containers=tuple(changed(c, engine_name=kept.get(c.id, c.engine_name)) for c in adoption.preview.containers),
    )
    problems = [
        f"{f.old_name}: not renamed to {f.container.engine_name} ({failed[f.container.id]}); adopted under its "
        "old name, `hostform apply` renames it in place"
        for f in adoption.containers
        if f.container.id in failed
    ]
    return replace(adoption, preview=preview), problems


__all__ = [
    "Adoption",
    "Found",
    "adoption_lines",
    "find_adoption",
    "perform",
    "print_adoption",
    "refuse_held",
    "refuse_swarm",
]
