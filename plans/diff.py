"""The planner: desired (declaration), last-applied (label) and live (engine) -> Plan.

It reads facts and emits changes; it never touches the host.
- desired vs last-applied: what the user changed (intent);
- desired vs live, for fields changed in place: last-applied labels cannot be
  rewritten after an in-place update, so they go stale by design;
- the tag's local image ID vs the container's image: a new image is a replacement.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from hostform.declare import names
from hostform.declare.canonical import service_spec, spec_hash
from hostform.declare.frozen import Frozen
from hostform.declare.load import LoadedStack
from hostform.declare.names import Address, Kind
from hostform.declare.secrets import MASK, UNKNOWN
from hostform.declare.spec import HOST_DEFAULTS, ContainerSpec, NetworkSpec
from hostform.plans.fields import FIELD_EFFECTS, LIFTED_BY_REPLACE, Effect, effect_of
from hostform.plans.model import (
    ALSO_TAGGED,
    Action,
    Change,
    Plan,
    PlanMode,
    Reason,
    ReasonKind,
    ReplaceOrder,
    display,
)
from hostform.plans.route_plan import route_conflicts, route_reasons
from hostform.runtime.container_config import declared_aliases, naming, network_attachments
from hostform.runtime.records import Observed, ObservedContainer, ObservedNetwork, ObservedVolume
from hostform.runtime.seal import foreign_warning

MASKED = {"secret": MASK}
LOCAL_DRIVERS = ("bridge", "macvlan", "ipvlan")
HIDDEN_DIFF = "(diff hidden: the file holds a secret)"  # still a secret-shaped value, so display() and public() mask it


class PlanOptions(Frozen):
    replace: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    prune_volumes: bool = False


def _without(observed: Observed, objects: list[tuple[str, str]]) -> Observed:
    skip = set(objects)
    return replace(
        observed,
        containers=tuple(c for c in observed.containers if ("container", c.engine_name) not in skip),
        networks=tuple(n for n in observed.networks if ("network", n.engine_name) not in skip),
        volumes=tuple(v for v in observed.volumes if ("volume", v.engine_name) not in skip),
    )


def hand_made_warning(stack: str, kind: str, engine_name: str) -> str:
    return (
        f"{kind} {engine_name!r} carries the label of stack {stack!r} but no apply recorded it (made by hand "
        "with copied labels?): hostform neither adopts nor deletes it; remove it by hand if it is not needed"
    )


def adopted_volume_warning(engine_name: str, what: str) -> str:
    return (
        f"volume {engine_name!r} {what}: it was adopted (its data predates hostform), and hostform never "
        f"deletes an adopted volume; remove it by hand if you mean to (docker volume rm {engine_name})"
    )


def make_plan(loaded: LoadedStack, observed: Observed, options: PlanOptions | None = None) -> Plan:
    options = options or PlanOptions()
    key = observed.key or os.urandom(16)
    conflicts = {(c.kind, c.engine_name): str(c) for c in observed.conflicts}
    unrecorded = list(observed.hand_made)
    warnings = [hand_made_warning(loaded.name, k, n) for k, n in unrecorded]
    warnings += [foreign_warning(loaded.name, n) for n in observed.foreign]
    live = observed  # the fingerprint covers every object, hand-made ones too
    observed = _without(observed, unrecorded)
    net_changes = list(_network_changes(loaded, observed, conflicts))
    replaced_nets = {c.name for c in net_changes if c.action is Action.REPLACE}
    vol_changes = list(_volume_changes(loaded, observed, options, conflicts, warnings))
    svc_changes = joined_namespaces(
        loaded, list(_service_changes(loaded, observed, options, key, replaced_nets, conflicts))
    )
    changes = net_changes + vol_changes + svc_changes
    if options.targets:
        changes = only_targets(loaded, changes, options.targets)
    changes = list(image_changes(loaded, observed, changes)) + changes
    for blocker in _missing_inputs(loaded, observed, changes):
        conflicts[("input", blocker)] = blocker
    for clash in route_conflicts(loaded, observed):
        conflicts[("route", clash)] = clash
    return Plan(
        stack=loaded.name,
        changes=tuple(_ordered(changes, loaded.stack.services())),
        fingerprint=live.fingerprint(),
        conflicts=tuple(sorted(set(conflicts.values()))),
        warnings=tuple(warnings),
        live=live.tokens(),
        key=key,
        key_known=observed.key is not None,
    )


def _missing_inputs(loaded: LoadedStack, observed: Observed, changes: list[Change]) -> Iterable[str]:
    """What a create or replace needs and the host lacks (an image it may not pull, a bind-mount
    source): refused before the host is touched, instead of failing halfway through an apply."""
    services = loaded.stack.services()
    needed = {c.name for c in changes if c.is_service and c.action in (Action.CREATE, Action.REPLACE)}
    missing = set(observed.missing_paths)
    for name in sorted(needed):
        spec = services.get(name)
        if spec is None:
            continue
        if spec.build is None and spec.pull == "never" and observed.image_ids.get(spec.image, "") is None:
            yield f"image {spec.image!r} is not on the engine and pull = 'never' ({name} needs it)"
        for net in [a.name for a in spec.networks]:
            if f"network {net}" in observed.missing_external:
                yield f"external network {net!r} does not exist on the engine ({name} joins it); create it first"
        for m in spec.volumes:
            if m.type == "volume" and f"volume {m.source}" in observed.missing_external:
                yield f"external volume {m.source!r} does not exist on the engine ({name} mounts it); create it first"
            if m.type == "bind" and m.source in missing:
                yield (
                    f"bind-mount source {loaded.shown_path(m.source)} does not exist ({name} mounts it at {m.target}); "
                    "create it, or mount a named volume"
                )


# ---------------------------------------------------------------- built images


def image_changes(loaded: LoadedStack, observed: Observed, changes: list[Change]) -> Iterable[Change]:
    """A build for each content a created or replaced container needs and the engine lacks, once
    for every repository that holds it (the same context, Dockerfile, args and target: one build,
    tagged for each; a content already built under another repository is only tagged); a push
    for each the stack pushes and its registry does not hold yet (per the local image's registry
    digests). Never a build for an image nobody is about to use."""
    needed = {c.name for c in changes if c.is_service and c.action in (Action.CREATE, Action.REPLACE)}
    for group in same_builds(loaded).values():
        yield from _group_changes(loaded, observed, needed, group)


def same_builds(loaded: LoadedStack) -> dict[tuple[str, str | None], list[str]]:
    """The built services by what their image is made of: (context digest, build network) ->
    service names, sorted. One build serves a whole group."""
    groups: dict[tuple[str, str | None], list[str]] = {}
    for name, build in sorted(loaded.builds.items()):
        groups.setdefault((build.digest, build.network), []).append(name)
    return groups


def also_tagged(refs: list[str]) -> tuple[Reason, ...]:
    """The reason a build carries for the other repositories it is tagged in (the applier reads
    them from here: `after` lists them)."""
    if not refs:
        return ()
    return (Reason(ReasonKind.BUILD, ALSO_TAGGED, None, refs, text=f"built once, also tagged {', '.join(refs)}"),)


def _group_changes(loaded: LoadedStack, observed: Observed, needed: set[str], group: list[str]) -> Iterable[Change]:
    refs: dict[str, list[str]] = {}  # repository:tag -> its users
    for name in group:
        refs.setdefault(loaded.builds[name].ref, []).append(name)
    present = [r for r in refs if observed.image_ids.get(r) is not None]
    wanted = [r for r in refs if r not in present and (needed & set(refs[r]) or loaded.builds[refs[r][0]].push)]
    built = False
    for ref, users in refs.items():
        build = loaded.builds[users[0]]
        address = str(Address(Kind.IMAGE, build.repository))
        used_by = Reason(ReasonKind.NEW, text=f"for {', '.join(users)}")
        pushes = (Reason(ReasonKind.BUILD, text=f"then pushed to {build.registry or 'its registry'}"),)
        if ref in wanted and present:  # the same content is on the engine under another name
            tagged = Reason(ReasonKind.BUILD, text=f"the same build as {present[0]}: tagged, not built again")
            reasons = (used_by, tagged, *(pushes if build.push else ()))
            yield Change(address, Kind.IMAGE, users[0], ref, Action.BUILD, reasons, current_id=present[0])
        elif ref in wanted and not built:
            built = True
            also = also_tagged([r for r in wanted if r != ref])
            yield Change(
                address, Kind.IMAGE, users[0], ref, Action.BUILD, (used_by, *also, *(pushes if build.push else ()))
            )
        elif ref in present and build.push:
            pushed = any(d.startswith(f"{build.repository}@") for d in observed.repo_digests.get(ref, ()))
            if not pushed:
                reason = Reason(ReasonKind.BUILD, text=f"built, not yet in {build.registry or 'its registry'}")
                yield Change(address, Kind.IMAGE, users[0], ref, Action.PUSH, (used_by, reason), current_id=ref)


def _build_reason(loaded: LoadedStack, observed: Observed, name: str, reason: Reason) -> Reason:
    """`image: "blog/web:ctx-1" -> "blog/web:ctx-2"` of a built service, told as what changed in its context."""
    build = loaded.builds.get(name)
    old = str(reason.before or "")
    repo, _, old_tag = old.rpartition(":")
    if build is None or reason.path != "image" or repo != build.repository:
        return reason
    text = observed.build_changes.get(f"{old} -> {build.ref}") or f"build context changed: {old_tag} -> {build.tag}"
    return Reason(ReasonKind.BUILD, "image", reason.before, reason.after, text=text)


# ---------------------------------------------------------------- networks and volumes


def _network_changes(
    loaded: LoadedStack, observed: Observed, conflicts: dict[tuple[str, str], str]
) -> Iterable[Change]:
    stack = loaded.name
    by_name = {n.name: n for n in observed.networks}
    for name, spec in sorted(loaded.stack.all_networks().items()):
        if spec.external:
            continue
        engine_name = names.network_name(stack, name)
        if (Kind.NETWORK, engine_name) in conflicts:
            continue
        live = by_name.get(name)
        address = str(Address(Kind.NETWORK, name))
        if live is None:
            yield Change(address, Kind.NETWORK, name, engine_name, Action.CREATE, (Reason(ReasonKind.NEW),))
            continue
        reasons = tuple(network_reasons(spec, live))
        action = Action.REPLACE if reasons else Action.NOOP
        # a network cannot be made beside the old one under its name: removed, then made again
        order = ReplaceOrder.STOP_FIRST
        yield Change(address, Kind.NETWORK, name, engine_name, action, reasons, current_id=live.id, order=order)
    declared = set(loaded.stack.all_networks())
    for live in observed.networks:
        if live.name not in declared:
            yield _delete_network(live, "no longer declared")


class LiveNetwork(Protocol):
    """What a live network's settings are read from: one host's or Swarm's record."""

    @property
    def driver(self) -> str: ...
    @property
    def internal(self) -> bool: ...
    @property
    def attachable(self) -> bool: ...
    @property
    def subnet(self) -> str | None: ...
    @property
    def gateway(self) -> str | None: ...
    @property
    def labels(self) -> dict[str, str]: ...
    @property
    def options(self) -> dict[str, str]: ...
    @property
    def adopted(self) -> bool: ...


def network_reasons(spec: NetworkSpec, live: LiveNetwork) -> Iterable[Reason]:
    """The declared settings a live network differs in (each needs a new network)."""
    for path, want, have in (
        ("driver", spec.driver, live.driver),
        ("internal", spec.internal, live.internal),
        ("attachable", spec.attachable, live.attachable),
    ):
        if path == "attachable" and live.adopted and live.driver in LOCAL_DRIVERS:
            continue  # Compose makes its networks attachable; only an overlay network reads the flag
        if want != have:
            yield Reason(ReasonKind.FIELD, path, have, want)
    if spec.subnet is not None and spec.subnet != live.subnet:
        yield Reason(ReasonKind.FIELD, "subnet", live.subnet, spec.subnet)
    if spec.subnet is not None and spec.gateway is not None and spec.gateway != live.gateway:
        yield Reason(ReasonKind.FIELD, "gateway", live.gateway, spec.gateway)  # applied with a subnet only
    # labels and options cannot change on a network: a different one is made
    if names.user_labels(live.labels) != spec.labels:
        yield Reason(ReasonKind.FIELD, "labels", names.user_labels(live.labels), spec.labels)
    if _declared_differ(spec.options, live.options):
        yield Reason(ReasonKind.FIELD, "options", {k: live.options.get(k) for k in spec.options}, spec.options)


def _declared_differ(declared: dict[str, str], live: dict[str, str]) -> bool:
    """Declared options missing or different on the host (the engine may add options of its own)."""
    return any(live.get(k) != v for k, v in declared.items())


def _volume_changes(
    loaded: LoadedStack,
    observed: Observed,
    options: PlanOptions,
    conflicts: dict[tuple[str, str], str],
    warnings: list[str],
) -> Iterable[Change]:
    stack = loaded.name
    by_name = {v.name: v for v in observed.volumes}
    for name, spec in sorted(loaded.stack.volumes.items()):
        engine_name = names.volume_name(stack, name)
        if spec.external or (Kind.VOLUME, engine_name) in conflicts:
            continue
        live = by_name.get(name)
        address = str(Address(Kind.VOLUME, name))
        if live is None:
            yield Change(address, Kind.VOLUME, name, engine_name, Action.CREATE, (Reason(ReasonKind.NEW),))
        else:
            differ = [
                what
                for what, yes in (
                    (f"driver {live.driver!r}, declared {spec.driver!r}", live.driver != spec.driver),
                    ("other labels than declared", names.user_labels(live.labels) != spec.labels),
                    ("other driver_opts than declared", _declared_differ(spec.driver_opts, live.options)),
                )
                if yes
            ]
            if differ:
                warnings.append(
                    f"volume {engine_name!r} has {'; '.join(differ)}: volumes are never replaced "
                    "automatically (their data would be lost); to change it, copy the data out, remove "
                    "the volume by hand and apply"
                )
            yield Change(address, Kind.VOLUME, name, engine_name, Action.NOOP, current_id=live.engine_name)
    for live in observed.volumes:
        if live.name in loaded.stack.volumes:
            continue
        if live.adopted:
            warnings.append(adopted_volume_warning(live.engine_name, "is no longer declared"))
        elif options.prune_volumes:
            yield _delete_volume(live, "no longer declared (--prune-volumes)")
        else:
            warnings.append(f"volume {live.engine_name!r} is no longer declared; kept (delete it with --prune-volumes)")


# ---------------------------------------------------------------- containers and jobs


def _service_changes(
    loaded: LoadedStack,
    observed: Observed,
    options: PlanOptions,
    key: bytes,
    replaced_nets: set[str],
    conflicts: dict[tuple[str, str], str],
) -> Iterable[Change]:
    stack = loaded.stack
    groups: dict[tuple[str, int], list[ObservedContainer]] = {}
    for c in observed.containers:
        groups.setdefault((c.name, c.replica), []).append(c)
    services = stack.services()
    for name in sorted(services):
        spec = services[name]
        kind = Kind.JOB if name in stack.jobs else Kind.CONTAINER
        desired = service_spec(loaded, name, key)
        for replica in range(1, spec.replicas + 1):
            engine_name = names.container_name(stack.name, name, replica, spec.replicas)
            address = str(Address.of(kind, name, replica, spec.replicas))
            if (Kind.CONTAINER, engine_name) in conflicts:
                groups.pop((name, replica), None)
                continue
            found = groups.pop((name, replica), [])
            accepted = _accepted_names(stack.name, name, replica)
            current, leftovers = _pick(found, accepted)
            if current is not None and current.engine_name in accepted:
                engine_name = current.engine_name  # replica 1 keeps its name when replicas grow or shrink
            yield from (_delete(c, ReasonKind.LEFTOVER, "left by an interrupted apply") for c in leftovers)
            if current is None:
                done = completed_before(observed, address, desired) if kind == Kind.JOB else None
                if done is not None:
                    yield Change(address, kind, name, engine_name, Action.NOOP, (done,), replica)
                    continue
                yield Change(address, kind, name, engine_name, Action.CREATE, (Reason(ReasonKind.NEW),), replica)
                continue
            known = with_applied_secrets(desired, current.last_applied)
            reasons = _container_reasons(
                loaded, name, kind, spec, known, current, observed, options, replaced_nets, engine_name
            )
            action, order = _action_for(reasons), _replace_order(kind, spec)
            if action is Action.UPDATE and current.state == "running":  # a stopped one is started, not signalled
                reasons += [signal_reason(s, engine_name) for s in reload_signals(loaded, spec, reasons)]
            yield Change(address, kind, name, engine_name, action, tuple(reasons), replica, current.id, order=order)
    for (name, replica), leftover in sorted(groups.items()):
        for c in leftover:
            why = (
                "no longer declared"
                if name not in services
                else f"replica {replica} is beyond replicas = {services[name].replicas}"
            )
            yield _delete(c, ReasonKind.ORPHAN, why)


def completed_before(observed: Observed, address: str, desired: dict[str, Any]) -> Reason | None:
    """A job whose container is gone (pruned) that the record says ran to completion with this
    very spec: not run again. A changed spec (another digest) runs."""
    record = observed.record
    digest = record.completed.get(address) if record is not None else None
    if record is None or digest is None or digest != spec_hash(desired):
        return None
    text = (
        f"completed with this spec (recorded in generation {record.number}, {record.at}); "
        "its container is gone (pruned?): not run again"
    )
    return Reason(ReasonKind.COMPLETED, text=text)


def joined_namespaces(loaded: LoadedStack, changes: list[Change]) -> list[Change]:
    """A container in the network, IPC or PID namespace of another (`service:NAME`) loses it when
    that one is made anew: it is replaced after it, naming why."""
    services = loaded.stack.services()
    made = {c.name for c in changes if c.is_service and c.action in (Action.CREATE, Action.REPLACE)}
    out = list(changes)
    grew = True
    while grew:
        grew = False
        for i, c in enumerate(out):
            spec = services.get(c.name)
            if spec is None or not c.is_service or c.action in (Action.CREATE, Action.REPLACE, Action.DELETE):
                continue
            joined = sorted({_joined(getattr(spec, k)) for k in ("network_mode", "ipc", "pid")} & made)
            if joined:
                why = Reason(ReasonKind.DEPENDENCY, text=f"joins the namespace of {joined[0]!r}, which is made anew")
                out[i] = replace(c, action=Action.REPLACE, reasons=(*c.reasons, why))
                made.add(c.name)
                grew = True
    return out


def _joined(mode: str | None) -> str:
    kind, _, name = (mode or "").partition(":")
    return name if kind == "service" else ""


def _replace_order(kind: str, spec: ContainerSpec) -> ReplaceOrder:
    """A container's declared update.order; a job is always removed before it runs again."""
    if kind == Kind.CONTAINER and spec.update.order == "start-first":
        return ReplaceOrder.START_FIRST
    return ReplaceOrder.STOP_FIRST


def with_applied_secrets(desired: dict[str, Any], last_applied: dict[str, Any] | None) -> dict[str, Any]:
    """A secret not set where hostform runs (drift, which needs no secret values) stands for the one
    last applied: its keyed hash, and the hash of a config file holding it, are taken from the label."""
    if last_applied is None:
        return desired
    unknown = {"secret": UNKNOWN}
    applied_env = last_applied.get("env") or {}
    env = {k: (applied_env.get(k, v) if v == unknown else v) for k, v in desired.get("env", {}).items()}
    applied_files = {f["target"]: f["sha256"] for f in last_applied.get("files") or []}
    files = [
        {**f, "sha256": applied_files.get(f["target"], UNKNOWN)} if f["sha256"] == UNKNOWN else f
        for f in desired.get("files", [])
    ]
    return {**desired, "env": env, "files": files}


def _accepted_names(stack: str, name: str, replica: int) -> set[str]:
    """Replica 1 is `<stack>-<name>` alone and `<stack>-<name>-1` among others: either is home."""
    return {names.container_name(stack, name, replica, 1), names.container_name(stack, name, replica, 2)}


def _pick(
    found: list[ObservedContainer], accepted: set[str]
) -> tuple[ObservedContainer | None, list[ObservedContainer]]:
    """The container that stands for a replica; others (temporary leftovers) are deleted."""
    if not found:
        return None, []
    ranked = sorted(found, key=lambda c: (c.engine_name not in accepted, c.state != "running", c.engine_name))
    return ranked[0], ranked[1:]


def _delete_network(n: ObservedNetwork, text: str) -> Change:
    reasons = (Reason(ReasonKind.ORPHAN, text=text),)
    address = str(Address(Kind.NETWORK, n.name))
    return Change(address, Kind.NETWORK, n.name, n.engine_name, Action.DELETE, reasons, current_id=n.id)


def _delete_volume(v: ObservedVolume, text: str) -> Change:
    reasons = (Reason(ReasonKind.ORPHAN, text=text),)
    return Change(
        str(Address(Kind.VOLUME, v.name)),
        Kind.VOLUME,
        v.name,
        v.engine_name,
        Action.DELETE,
        reasons,
        current_id=v.engine_name,
    )


def _delete(c: ObservedContainer, kind: ReasonKind, text: str) -> Change:
    address = str(Address.of(c.kind, c.name, c.replica))
    return Change(
        address, Kind(c.kind), c.name, c.engine_name, Action.DELETE, (Reason(kind, text=text),), c.replica, c.id
    )


def _action_for(reasons: list[Reason]) -> Action:
    kinds = {r.kind for r in reasons}
    replace_kinds = {
        ReasonKind.FORCED,
        ReasonKind.IMAGE,
        ReasonKind.JOB_FAILED,
        ReasonKind.DEPENDENCY,
        ReasonKind.UNTRACKED,
        ReasonKind.LEFTOVER,
        ReasonKind.BUILD,
    }
    if kinds & replace_kinds or any(
        r.kind is ReasonKind.FIELD and effect_of(r.path) is Effect.REPLACE for r in reasons
    ):
        return Action.REPLACE
    if any(r.kind is ReasonKind.LIVE and r.path in LIFTED_BY_REPLACE and r.after is None for r in reasons):
        return Action.REPLACE
    if any(r.kind is ReasonKind.LIVE and r.path.startswith("files[") for r in reasons):
        return Action.REPLACE  # a config file is only copied in before the container starts
    if any(r.kind in (ReasonKind.FIELD, ReasonKind.LIVE, ReasonKind.RELOAD, ReasonKind.RENAME) for r in reasons):
        return Action.UPDATE
    if ReasonKind.STOPPED in kinds:
        return Action.START
    return Action.NOOP


def _container_reasons(
    loaded: LoadedStack,
    name: str,
    kind: str,
    spec: ContainerSpec,
    desired: dict[str, Any],
    current: ObservedContainer,
    observed: Observed,
    options: PlanOptions,
    replaced_nets: set[str],
    engine_name: str,
) -> list[Reason]:
    reasons: list[Reason] = []
    if name in options.replace or f"{name}[{current.replica}]" in options.replace:
        reasons.append(Reason(ReasonKind.FORCED, text="replacement forced with --replace"))
    if current.engine_name != engine_name and current.adopted:
        text = f"renamed {current.engine_name!r} -> {engine_name!r} (docker rename: the same container)"
        reasons.append(Reason(ReasonKind.RENAME, "name", current.engine_name, engine_name, text=text))
    elif current.engine_name != engine_name:
        reasons.append(Reason(ReasonKind.LEFTOVER, text=f"named {current.engine_name!r} by an interrupted apply"))
    reloadable = reload_targets(loaded, spec)
    if current.last_applied is None:
        reasons.append(Reason(ReasonKind.UNTRACKED, text="carries no readable last-applied spec"))
    else:
        reasons.extend(
            _build_reason(loaded, observed, name, r) for r in _intent(current.last_applied, desired, reloadable)
        )
        reasons.extend(_live_in_place(loaded, name, spec, current, current.last_applied))
    if kind == Kind.CONTAINER and current.state == "running":
        reasons.extend(route_reasons(loaded, name, desired, current, observed))
    reasons.extend(_reloads(desired, current, reloadable))
    reasons.extend(_files_changed_outside(current, reloadable))
    image_id = observed.image_ids.get(spec.image)
    if image_id and current.image_id and image_id != current.image_id:
        reasons.append(Reason(ReasonKind.IMAGE, spec.image, current.image_id, image_id))
    uses = {a.name for a in spec.networks} or {names.DEFAULT_NETWORK}
    for net in sorted(uses & replaced_nets):
        reasons.append(Reason(ReasonKind.DEPENDENCY, text=f"network {net!r} is replaced"))
    if kind == Kind.JOB:
        if current.state in ("exited", "dead") and current.exit_code not in (0, None):
            reasons.append(Reason(ReasonKind.JOB_FAILED, text=f"last run failed with exit code {current.exit_code}"))
        elif current.state == "created":  # an apply stopped between create and start
            reasons.append(Reason(ReasonKind.JOB_FAILED, text="created but never run"))
    elif current.state in ("created", "exited", "dead"):
        reasons.append(Reason(ReasonKind.STOPPED, text=f"container is {current.state}"))
    return reasons


def reload_targets(loaded: LoadedStack, spec: ContainerSpec) -> set[str]:
    """Targets of config files that are re-copied and signalled instead of recreating the container."""
    return {f.target for f in spec.files if f.source in loaded.files and loaded.files[f.source].reload_signal}


def reload_signals(loaded: LoadedStack, spec: ContainerSpec, reasons: Iterable[Reason]) -> list[str]:
    """The signals an in-place update sends once its reloadable files are copied in: one each."""
    targets = {r.path.removeprefix("files[").split("]", 1)[0] for r in reasons if r.kind is ReasonKind.RELOAD}
    signals: list[str] = []
    for fm in spec.files:
        sig = loaded.files[fm.source].reload_signal if fm.target in targets else None
        if sig and sig not in signals:
            signals.append(sig)
    return signals


def signal_reason(sig: str, engine_name: str) -> Reason:
    return Reason(ReasonKind.SIGNAL, text=f"reload: {sig} to {engine_name}")


def _reloads(desired: dict[str, Any], current: ObservedContainer, reloadable: set[str]) -> Iterable[Reason]:
    """Reloadable files are compared with the live file: the label's hash goes stale after a reload."""
    live = dict(current.file_hashes)
    applied = {f["target"]: f for f in (current.last_applied or {}).get("files") or []}
    for f in desired.get("files", []):
        target = f["target"]
        if target in reloadable and target in live and live[target] != f["sha256"]:
            have = live[target]
            before = "sha256:" + have[:12] if have else None
            # The label is written once, when the container is made: a live file it does not describe
            # was reloaded since (or edited), and whether that content held a secret is not known.
            hidden = "" if not f.get("secret") and _known_plain(applied.get(target), have) else HIDDEN_DIFF
            yield Reason(
                ReasonKind.RELOAD, f"files[{target}].sha256", before, "sha256:" + f["sha256"][:12], diff=hidden
            )


def _known_plain(applied: dict[str, Any] | None, live_sha: str | None) -> bool:
    """The live file is exactly what the label says was applied, and that held no secret."""
    return applied is not None and not applied.get("secret") and live_sha is not None and applied["sha256"] == live_sha


def _files_changed_outside(current: ObservedContainer, reloadable: set[str]) -> Iterable[Reason]:
    """A config file edited inside the container (not a reloadable one: those are compared with
    the declaration above) no longer holds what hostform copied in: replaced to put it back."""
    live = dict(current.file_hashes)
    for f in (current.last_applied or {}).get("files") or []:
        target, applied = f["target"], f["sha256"]
        have = live.get(target, applied)  # None: gone, or too big to read back
        if target not in reloadable and have is not None and have != applied:
            before, after = (MASK, MASK) if f.get("secret") else ("sha256:" + have[:12], "sha256:" + applied[:12])
            yield Reason(ReasonKind.LIVE, f"files[{target}].sha256", before, after, outside=True)


def _intent(
    last_applied: dict[str, Any], desired: dict[str, Any], reloadable: set[str] | frozenset[str] = frozenset()
) -> list[Reason]:
    """Fields the user changed since the last apply (in-place fields are compared with live instead)."""
    old = {k: v for k, v in last_applied.items() if FIELD_EFFECTS.get(k, Effect.REPLACE) is Effect.REPLACE}
    new = {k: v for k, v in desired.items() if FIELD_EFFECTS.get(k, Effect.REPLACE) is Effect.REPLACE}
    for k in list(new):
        if k not in old and k not in last_applied and k not in HOST_DEFAULTS:
            new.pop(k)  # a field added by a newer hostform: not a change the user made
        # (a host setting is left out of a spec at its default: absent there means the default)
    seen: dict[str, Reason] = {}
    old_files = [f for f in old.pop("files", []) if f["target"] not in reloadable]
    new_files = [f for f in new.pop("files", []) if f["target"] not in reloadable]
    for reason in _file_reasons(old_files, new_files):
        seen[reason.path] = reason
    if old == new:
        return [seen[p] for p in sorted(seen)]
    from deepdiff import DeepDiff  # imports numpy: only paid when something changed (no-op plans stay fast)

    for items in DeepDiff(old, new, view="tree", verbose_level=2).values():
        for item in items:
            path, before, after = _collapse(item.path(output_format="list"), old, new)
            seen.setdefault(path, Reason(ReasonKind.FIELD, path, before, after))
    return [seen[p] for p in sorted(seen)]


def _file_reasons(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> Iterable[Reason]:
    """Config files by target: content hash, source and mode."""
    before = {f["target"]: f for f in old}
    after = {f["target"]: f for f in new}
    for target in sorted(set(before) | set(after)):
        a, b = before.get(target), after.get(target)
        if a == b:
            continue
        path = f"files[{target}]"
        if a is None or b is None:
            yield Reason(ReasonKind.FIELD, path, _file_view(a), _file_view(b))
        else:
            hidden = HIDDEN_DIFF if a.get("secret") or b.get("secret") else ""
            for key in ("source", "sha256", "mode"):
                if a.get(key) != b.get(key):
                    diff = hidden if key == "sha256" else ""
                    yield Reason(ReasonKind.FIELD, f"{path}.{key}", _file_view(a, key), _file_view(b, key), diff=diff)


def _file_view(f: dict[str, Any] | None, key: str = "") -> Any:
    if f is None:
        return None
    if key == "sha256":
        return "sha256:" + str(f["sha256"])[:12]
    if key == "mode":
        return oct(int(f["mode"]))
    if key:
        return f[key]
    return f"{f['source']} (sha256:{str(f['sha256'])[:12]})"


def _collapse(parts: list[Any], old: dict[str, Any], new: dict[str, Any]) -> tuple[str, Any, Any]:
    """A readable path: whole lists (ports, volumes) and env entries, secrets masked."""
    keep: list[Any] = []
    for part in parts:
        if isinstance(part, int) or part == "secret":
            break
        keep.append(part)
        if keep[0] == "env" and len(keep) == 2:
            break
    before, after = _get(old, keep), _get(new, keep)
    return ".".join(str(p) for p in keep), _mask(before), _mask(after)


def _get(tree: Any, path: list[Any]) -> Any:
    for part in path:
        if not isinstance(tree, dict) or part not in tree:
            return None
        tree = tree[part]
    return tree


def _mask(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"secret"}:
            return MASKED
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    return value


def _live_in_place(
    loaded: LoadedStack, name: str, spec: ContainerSpec, current: ObservedContainer, last_applied: dict[str, Any]
) -> Iterable[Reason]:
    """In-place fields, desired against live; `outside` when the stack file did not change them."""
    live = current.settings
    if live is None:
        return
    for field, want, have in (
        ("restart", spec.restart, live.restart),
        ("memory", spec.memory, live.memory),
        ("memory_reservation", spec.memory_reservation, live.memory_reservation),
        ("cpus", spec.cpus, live.cpus),
        ("pids_limit", spec.pids_limit if (spec.pids_limit or 0) > 0 else None, live.pids_limit),  # 0, -1: none
    ):
        if want != have:
            outside = last_applied.get(field, want) == want
            yield Reason(ReasonKind.LIVE, field, have, want, text=_lifted(field, have, want), outside=outside)
    if spec.network_mode is not None:
        return  # in the host's or another container's network namespace: network_mode is compared instead
    want_nets = {net: tuple(aliases) for net, aliases in network_attachments(naming(loaded), name, spec)}
    have_nets = {
        net: declared_aliases(aliases, spec.hostname, want_nets.get(net, ())) for net, aliases in live.networks
    }
    if want_nets != have_nets:
        outside = last_applied.get("networks") == [{"name": a.name, "aliases": list(a.aliases)} for a in spec.networks]
        yield Reason(ReasonKind.LIVE, "networks", _net_view(have_nets), _net_view(want_nets), outside=outside)


def _lifted(field: str, have: Any, want: Any) -> str:
    """Why removing a limit replaces the container ('' for a change made in place)."""
    if field not in LIFTED_BY_REPLACE or want is not None:
        return ""
    return (
        f"{field}: {display(have, field)} -> (none): the engine cannot lift a limit in place "
        "(its update API reads 0 as unchanged), so the container is replaced"
    )


def _net_view(nets: dict[str, tuple[str, ...]]) -> dict[str, list[str]]:
    return {n: list(a) for n, a in sorted(nets.items())}


# ---------------------------------------------------------------- order and targets

_PHASE = {
    (Kind.NETWORK, Action.CREATE): 0,
    (Kind.VOLUME, Action.CREATE): 0,
    (Kind.NETWORK, Action.REPLACE): 1,
}


def _ordered(changes: list[Change], services: Mapping[str, ContainerSpec] | None = None) -> list[Change]:
    """Creation of networks/volumes, then containers and jobs in the order apply runs them (given
    their specs: plans.graph), then deletions (containers before networks)."""

    def rank(c: Change) -> tuple[int, str]:
        if c.is_image:
            return (-1, c.address)
        if c.action is Action.DELETE:
            return (5 if c.is_service else 6, c.address)
        if c.kind in (Kind.NETWORK, Kind.VOLUME):
            return (_PHASE.get((c.kind, c.action), 2), c.address)
        return (3, c.address)

    ranked = sorted(changes, key=rank)
    walked = [c for c in ranked if rank(c)[0] == 3 and c.action is not Action.NOOP]
    if services is None or len(walked) < 2:
        return ranked
    from hostform.plans.graph import in_apply_order  # only a plan with changes to order loads it

    ordered = iter(in_apply_order(walked, services))
    return [next(ordered) if rank(c)[0] == 3 and c.action is not Action.NOOP else c for c in ranked]


def only_targets(loaded: LoadedStack, changes: list[Change], targets: tuple[str, ...]) -> list[Change]:
    """The changes of the targeted services and of what they need: the services they depend on,
    their networks and volumes, and (on Swarm) the configs and secrets of their files."""
    services = loaded.stack.services()
    wanted: set[str] = set()
    todo = [t for t in targets]
    while todo:
        name = todo.pop()
        if name in wanted:
            continue
        wanted.add(name)
        if name in services:
            todo.extend(services[name].depends_on)
            spec = services[name]
            wanted.update(f"net:{a.name}" for a in spec.networks or ())
            if not spec.networks:
                wanted.add(f"net:{names.DEFAULT_NETWORK}")
            wanted.update(f"vol:{m.source}" for m in spec.volumes if m.type == "volume")
            wanted.update(f"file:{f.source}" for f in spec.files)
    keep = []
    for c in changes:
        prefix = {Kind.NETWORK: "net:", Kind.VOLUME: "vol:", Kind.CONFIG: "file:", Kind.SECRET: "file:"}
        tag = prefix.get(c.kind, "") + c.name
        if tag in wanted or c.name in targets:
            keep.append(c)
    return keep


def adopted_deletes(plan: Plan, observed: Observed) -> bool:
    """Whether the plan deletes an object the stack adopted (then who else holds it is read)."""
    adopted = {c.id for c in observed.containers if c.adopted} | {n.id for n in observed.networks if n.adopted}
    return any(c.action is Action.DELETE and c.current_id in adopted for c in plan.changes)


def spare_held(plan: Plan, held: dict[str, str]) -> Plan:
    """The plan without deleting what another stack's record holds (adopted there): said instead.
    An object two records claim (adopted twice by an older hostform) is neither stack's to remove."""
    spared = [c for c in plan.changes if c.action is Action.DELETE and (c.current_id or "") in held]
    if not spared:
        return plan
    warnings = [
        f"{c.kind} {c.engine_name!r} ({c.address}) is held by the record of stack {held[c.current_id or '']!r} "
        "(adopted there too): hostform leaves it alone"
        for c in spared
    ]
    kept = tuple(c for c in plan.changes if c not in spared)
    return replace(plan, changes=kept, warnings=plan.warnings + tuple(warnings))


def destroy_plan(stack: str, observed: Observed, volumes: bool) -> Plan:
    """Every object carrying the stack's label, deleted; named volumes only when asked. Objects no
    generation of the record lists (made by hand with copied labels) are left alone, and said so."""
    live = observed
    unrecorded = list(observed.hand_made)  # observed without declared names: every unrecorded object
    observed = _without(observed, unrecorded)
    changes: list[Change] = [_delete(c, ReasonKind.ORPHAN, "destroy") for c in observed.containers]
    changes += [_delete_network(n, "destroy") for n in observed.networks]
    warnings = [hand_made_warning(stack, k, n) for k, n in unrecorded]
    for v in observed.volumes:
        if v.adopted:
            warnings.append(adopted_volume_warning(v.engine_name, "is kept"))
        elif volumes:
            changes.append(_delete_volume(v, "destroy --volumes"))
        else:
            warnings.append(f"volume {v.engine_name!r} is kept (its data too); add --volumes to delete it")
    return Plan(
        stack,
        tuple(_ordered(changes)),
        live.fingerprint(),
        (),
        tuple(warnings),
        live.tokens(),
        observed.key or b"",
        mode=PlanMode.DESTROY,
    )
