"""The planner on Swarm: declaration, last-applied spec (a service label) and the manager's facts -> Plan.

It reads facts and emits changes; it never touches the cluster.
- desired vs last-applied (the service's label, rewritten at every update): what the user changed;
  most changes are a rolling update of the service, a replica count alone is a scale;
- the spec Swarm holds vs the digest of what hostform sent: a `docker service update` by hand.
  Swarm fills defaults into the spec it returns; only the fields hostform sets are compared;
- the tag's registry digest vs the digest the service runs: a moved tag is an update;
- a network's declared settings vs the live network's: a replacement (networks cannot be
  updated), its services detached first and joined to the new one after;
- configs and secrets are content-addressed: a changed file is a new object (and an update of
  its users), the old one is deleted once nothing uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from hostform.declare import names
from hostform.declare.canonical import service_spec
from hostform.declare.load import LoadedStack
from hostform.declare.names import Address, Kind
from hostform.declare.secrets import UnknownSecret
from hostform.declare.spec import ContainerSpec
from hostform.plans.diff import (
    PlanOptions,
    also_tagged,
    hand_made_warning,
    network_reasons,
    only_targets,
    same_builds,
    with_applied_secrets,
)
from hostform.plans.model import Action, Change, Plan, Reason, ReasonKind, ReplaceOrder
from hostform.runtime.swarm import SwarmFile, SwarmNode, SwarmObserved, SwarmService
from hostform.runtime.swarm_spec import file_engine_name, file_kind, service_name

MASKED = {"secret": "(secret)"}
SETTLED_STATES = (None, "completed", "rollback_completed")


def swarm_plan(loaded: LoadedStack, observed: SwarmObserved, key: bytes, options: PlanOptions | None = None) -> Plan:
    """options: --replace (a forced rolling update: every task replaced) and --target (only the
    targeted services and what they need), as on one host."""
    options = options or PlanOptions()
    conflicts: list[str] = []
    warnings: list[str] = list(_volume_warnings(loaded))
    warnings += [hand_made_warning(loaded.name, k, n) for k, n in _hand_made(loaded, observed, key)]
    networks = list(_network_changes(loaded, observed))
    replaced = {c.current_id: c.name for c in networks if c.action is Action.REPLACE and c.current_id}
    changes = [*networks, *_file_changes(loaded, observed, key), *_builds(loaded, observed)]
    for name in sorted(loaded.stack.services()):
        spec = loaded.stack.services()[name]
        problem = observed.image_problems.get(spec.image)
        if problem and name not in loaded.builds:  # a built image not in its registry yet: built and pushed
            conflicts.append(f"{_address(loaded, name)}: {problem}")
        conflicts.extend(f"{_address(loaded, name)}: {p}" for p in scheduling_problems(spec, observed.nodes))
        change = _service_change(loaded, observed, name, key, replaced, name in options.replace)
        if change is not None:
            changes.append(change)
    declared = {service_name(loaded.name, n) for n in loaded.stack.services()}
    changes += [
        _delete(s, "no longer declared")
        for s in observed.services
        if s.engine_name not in declared and not observed.unrecorded(s.engine_name)
    ]
    if options.targets:
        changes = only_targets(loaded, changes, options.targets)
    return Plan(
        stack=loaded.name,
        changes=tuple(_ordered(changes)),
        fingerprint=observed.fingerprint(),
        conflicts=tuple(conflicts),
        warnings=tuple(warnings),
        live=observed.tokens(),
        key=key,
        key_known=observed.key is not None,
    )


def _hand_made(loaded: LoadedStack, observed: SwarmObserved, key: bytes) -> list[tuple[str, str]]:
    """Labelled objects the stack does not declare and no generation of the record lists: told,
    never deleted nor adopted."""
    declared = {service_name(loaded.name, n) for n in loaded.stack.services()}
    declared |= {names.network_name(loaded.name, n) for n in loaded.stack.all_networks()}
    declared |= set(wanted_files(loaded, key, observed.files))
    return [(k, n) for k, n in observed.hand_made if n not in declared]


def _address(loaded: LoadedStack, name: str) -> str:
    return f"{'jobs' if name in loaded.stack.jobs else 'containers'}.{name}"


# ---------------------------------------------------------------- services


def _service_change(
    loaded: LoadedStack,
    observed: SwarmObserved,
    name: str,
    key: bytes,
    replaced: dict[str, str],
    force: bool = False,
) -> Change | None:
    """replaced: networks being replaced, by ID. force (--replace): a rolling update that replaces
    every task (TaskTemplate.ForceUpdate raised by one, following the service's update settings);
    a job runs again."""
    stack = loaded.stack
    spec = stack.services()[name]
    kind = "job" if name in stack.jobs else "container"
    address = _address(loaded, name)
    engine_name = service_name(stack.name, name)
    live = observed.service(name)
    if live is None:
        return Change(address, Kind(kind), name, engine_name, Action.CREATE, (Reason(ReasonKind.NEW),))
    desired = with_applied_secrets(service_spec(loaded, name, key), live.last_applied)  # drift: secrets unset
    reasons = list(_reasons(live, desired, observed.images.get(spec.image), observed.key is not None))
    reasons = [_build_reason(r, observed) for r in reasons] if name in loaded.builds else reasons
    moved = "is replaced: detached first, then joins the new one"
    reasons += [
        Reason(ReasonKind.DEPENDENCY, text=f"network {replaced[n]!r} {moved}") for n in live.networks if n in replaced
    ]
    if force:
        reasons.append(Reason(ReasonKind.FORCED, text="replacement forced with --replace: every task is replaced"))
    if not reasons:
        return Change(address, Kind(kind), name, engine_name, Action.NOOP, current_id=live.id)
    reasons.append(Reason(ReasonKind.FIELD, text=_how(spec, kind, reasons)))
    return Change(address, Kind(kind), name, engine_name, Action.UPDATE, tuple(reasons), current_id=live.id)


def _reasons(live: SwarmService, desired: dict[str, Any], pinned: str | None, key_known: bool) -> Iterator[Reason]:
    if live.last_applied is None:
        yield Reason(ReasonKind.UNTRACKED, text="carries no readable last-applied spec: sent whole again")
    elif key_known:  # a key made for this plan hashes secrets differently: compare once it is known
        yield from field_changes(live.last_applied, desired)
    if pinned is not None and live.image != pinned:
        yield Reason(
            ReasonKind.IMAGE, "image", live.image, pinned, text=f"image {_digest(live.image)} -> {_digest(pinned)}"
        )
    if live.sent is not None and live.sent != live.owned:
        yield Reason(
            ReasonKind.LIVE,
            text="the service was changed outside hostform (docker service update): its spec is sent again",
            outside=True,
        )
    if live.update_state in ("paused", "rollback_paused", "rollback_completed"):
        detail = f": {live.update_message}" if live.update_message else ""
        yield Reason(ReasonKind.LIVE, text=f"Swarm left the last update {live.update_state}{detail}", outside=True)


def _digest(image: str) -> str:
    return image.rpartition("@")[2].removeprefix("sha256:")[:12] or image


def _how(spec: ContainerSpec, kind: str, reasons: list[Reason]) -> str:
    paths = {r.path for r in reasons if r.kind is ReasonKind.FIELD}
    if paths == {"replicas"} and len(reasons) == 1:
        before, after = reasons[0].before, reasons[0].after
        return f"scale {before} -> {after} replicas (no task restarted)"
    if kind == "job":
        return "the job runs again with the new spec"
    u = spec.update
    return (
        f"rolling update: order {u.order}, parallelism {u.parallelism or 'all'}, delay {u.delay // 10**9}s, "
        f"on failure {u.failure_action}"
    )


def field_changes(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> Iterator[Reason]:
    """Field by field, one level into tables (update.parallelism, env.KEY); secrets masked."""
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if a == b:
            continue
        path = f"{prefix}{k}"
        if k == "files" and isinstance(a, list) and isinstance(b, list):
            yield from _file_changes_of(a, b)
        elif isinstance(a, dict) and isinstance(b, dict) and not prefix and not _is_secret(a) and not _is_secret(b):
            yield from field_changes(a, b, f"{path}.")
        else:
            yield Reason(ReasonKind.FIELD, path, _mask(a), _mask(b))


def _file_changes_of(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> Iterator[Reason]:
    before = {f["target"]: f for f in old}
    after = {f["target"]: f for f in new}
    for target in sorted(set(before) | set(after)):
        a, b = before.get(target), after.get(target)
        if a == b:
            continue
        yield Reason(ReasonKind.FIELD, f"files[{target}]", _file_view(a), _file_view(b))


def _file_view(f: dict[str, Any] | None) -> str | None:
    return None if f is None else f"{f['source']} (sha256:{str(f['sha256'])[:12]})"


def _is_secret(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secret"}


def _mask(value: Any) -> Any:
    if _is_secret(value):
        return MASKED
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _delete(s: SwarmService, text: str) -> Change:
    address = f"{'jobs' if s.kind == 'job' else 'containers'}.{s.name}"
    reason = Reason(ReasonKind.ORPHAN, text=text)
    return Change(address, Kind(s.kind), s.name, s.engine_name, Action.DELETE, (reason,), current_id=s.id)


# ---------------------------------------------------------------- built images


def _builds(loaded: LoadedStack, observed: SwarmObserved) -> Iterator[Change]:
    """A build (then a push) for each content tag its registry does not hold yet: every node pulls
    it from there, by digest. A tag the registry holds is the same context: nothing to build.
    Services whose build is the same get one build, tagged (and pushed) for each repository."""
    for group in same_builds(loaded).values():
        missing: dict[str, list[str]] = {}
        for name in group:
            if observed.images.get(loaded.builds[name].ref) is None:
                missing.setdefault(loaded.builds[name].ref, []).append(name)
        if not missing:
            continue
        ref, *others = missing
        build = loaded.builds[missing[ref][0]]
        reasons = (
            Reason(ReasonKind.NEW, text=f"for {', '.join(n for users in missing.values() for n in users)}"),
            *also_tagged(others),
            Reason(ReasonKind.BUILD, text=f"then pushed to {build.registry}; the services run it by digest"),
        )
        address = str(Address(Kind.IMAGE, build.repository))
        yield Change(address, Kind.IMAGE, missing[ref][0], ref, Action.BUILD, reasons)


def _build_reason(reason: Reason, observed: SwarmObserved) -> Reason:
    """`image: "repo:ctx-1" -> "repo:ctx-2"` told as what changed in the build context."""
    if reason.path != "image" or reason.kind is not ReasonKind.FIELD:
        return reason
    old, new = str(reason.before or ""), str(reason.after or "")
    text = observed.build_changes.get(f"{old} -> {new}")
    text = text or f"build context changed: {old.rpartition(':')[2]} -> {new.rpartition(':')[2]}"
    return Reason(ReasonKind.BUILD, "image", reason.before, reason.after, text=text)


# ---------------------------------------------------------------- networks, configs, secrets


def _network_changes(loaded: LoadedStack, observed: SwarmObserved) -> Iterator[Change]:
    """Networks cannot be updated: a declared setting that differs from the live network's
    (driver options, internal, labels, subnet and gateway) replaces it, and its services are
    detached first, as containers are on one host."""
    stack = loaded.stack
    wanted = {k: n for k, n in stack.all_networks().items() if not n.external}
    live = {n.name: n for n in observed.networks}
    for name in sorted(wanted):
        engine_name = names.network_name(stack.name, name)
        have = live.get(name)
        if have is None:
            yield Change(f"networks.{name}", Kind.NETWORK, name, engine_name, Action.CREATE, (Reason(ReasonKind.NEW),))
            continue
        # every network on Swarm is an attachable overlay: those two are not the user's to differ
        declared = wanted[name].model_copy(update={"driver": "overlay", "attachable": True})
        reasons = tuple(network_reasons(declared, have))
        if reasons:
            yield Change(
                f"networks.{name}",
                Kind.NETWORK,
                name,
                engine_name,
                Action.REPLACE,
                reasons,
                current_id=have.id,
                order=ReplaceOrder.STOP_FIRST,
            )
    for name in sorted(set(live) - set(wanted)):
        n = live[name]
        if observed.unrecorded(n.engine_name):
            continue  # made by hand: a warning (see _hand_made)
        reason = Reason(ReasonKind.ORPHAN, text="no longer declared")
        yield Change(f"networks.{name}", Kind.NETWORK, name, n.engine_name, Action.DELETE, (reason,), current_id=n.id)


def wanted_files(loaded: LoadedStack, key: bytes, live: Iterable[SwarmFile] = ()) -> dict[str, tuple[str, str]]:
    """engine name -> (kind, [files] key) of every config and secret a service uses.

    live: the stack's configs and secrets on the manager. A secret not set where hostform runs
    (drift needs no secret values) has no name of its own: the live secrets of that [files] key
    stand for it, as its last-applied hash does in the service's spec."""
    used = {fm.source for spec in loaded.stack.services().values() for fm in spec.files}
    applied = [f for f in live if f.kind == "secret"]
    out = {}
    for name in sorted(used):
        resolved = loaded.files.get(name)
        if resolved is None:
            continue
        standing = [f.engine_name for f in applied if f.name == name]
        if isinstance(resolved.content, UnknownSecret) and standing:
            out.update(dict.fromkeys(standing, ("secret", name)))
        else:
            out[file_engine_name(loaded.name, resolved, key)] = (file_kind(resolved), name)
    return out


def _file_changes(loaded: LoadedStack, observed: SwarmObserved, key: bytes) -> Iterator[Change]:
    live = {f.engine_name: f for f in observed.files}
    wanted = wanted_files(loaded, key, observed.files)
    for engine_name, (kind, name) in wanted.items():
        if engine_name not in live:
            yield Change(f"files.{name}", Kind(kind), name, engine_name, Action.CREATE, (Reason(ReasonKind.NEW),))
    for engine_name, f in live.items():
        if engine_name not in wanted and not observed.unrecorded(engine_name):
            reason = Reason(ReasonKind.ORPHAN, text="no service uses it any more")
            yield Change(
                f"files.{f.name}", Kind(f.kind), f.name, engine_name, Action.DELETE, (reason,), current_id=f.id
            )


_PHASE = {"image": -1, "network": 0, "config": 1, "secret": 1}


def _ordered(changes: list[Change]) -> list[Change]:
    """Builds, networks, configs and secrets first; services; then deletions: services, files, networks."""

    def rank(c: Change) -> tuple[int, str]:
        if c.action is Action.DELETE:
            return ({"config": 6, "secret": 6, "network": 7}.get(c.kind, 5), c.address)
        return (_PHASE.get(c.kind, 3), c.address)

    return sorted(changes, key=rank)


# ---------------------------------------------------------------- what the node list shows


def scheduling_problems(spec: ContainerSpec, nodes: Iterable[SwarmNode]) -> Iterator[str]:
    """A reservation no node can hold, or constraints no node matches, told before applying."""
    eligible = [n for n in nodes if n.availability == "active" and _matches(spec, n)]
    if spec.placement is not None and spec.placement.constraints and not eligible:
        yield f"no node matches the constraints {list(spec.placement.constraints)}"
        return
    res = spec.reservations
    if res is None or not eligible:
        return
    if res.memory is not None and not any(n.memory >= res.memory for n in eligible):
        have = ", ".join(f"{n.hostname} {_gib(n.memory)}" for n in eligible)
        yield f"no node has {_gib(res.memory)} of memory to reserve: {have}"
    if res.cpus is not None and not any(n.nano_cpus >= res.cpus * 10**9 for n in eligible):
        have = ", ".join(f"{n.hostname} {n.nano_cpus / 10**9:g}" for n in eligible)
        yield f"no node has {res.cpus:g} CPUs to reserve: {have}"


def _gib(size: int) -> str:
    return f"{size / 2**30:.1f}".removesuffix(".0") + " GiB"


def _matches(spec: ContainerSpec, node: SwarmNode) -> bool:
    """The constraints hostform can read from the node list; any other kind counts as a match."""
    if spec.placement is None:
        return True
    facts = {"node.hostname": node.hostname, "node.role": node.role, "node.id": node.id}
    facts.update({f"node.labels.{k}": v for k, v in node.labels})
    for constraint in spec.placement.constraints:
        op = "!=" if "!=" in constraint else "=="
        left, _, right = (part.strip() for part in constraint.partition(op))
        if not left.startswith(("node.hostname", "node.role", "node.id", "node.labels.")):
            continue
        equal = facts.get(left) == right
        if equal != (op == "=="):
            return False
    return True


def _volume_warnings(loaded: LoadedStack) -> Iterator[str]:
    """A named volume is per node: replicas spread over nodes would each keep their own data."""
    pins = ("node.hostname==", "node.id==", "node.labels.")
    for name, spec in sorted(loaded.stack.containers.items()):
        volumes = [m.source for m in spec.volumes if m.type == "volume"]
        constraints = [c.replace(" ", "") for c in (spec.placement.constraints if spec.placement else ())]
        pinned = any(c.startswith(pins) and "==" in c for c in constraints)
        if volumes and not pinned and (spec.global_ or spec.replicas >= 1):
            yield (
                f"containers.{name}: named volume {volumes[0]!r} is per node, and no placement constraint pins "
                "the service to one: its data would split across nodes (pin it, or keep state in external storage)"
            )
