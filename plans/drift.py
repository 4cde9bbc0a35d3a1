"""Drift: does the host still hold what hostform applied? A refresh-only plan.

`detect` reads the same facts as a plan (one observe, plus each declared
config file fetched from its container) and sorts every difference into one
kind, with the evidence that tells it apart:

    drift       means                                             --fix does
    missing     the record's last generation lists it, gone now   create
    stopped     stopped from outside (docker stop/kill, paused)   start (a job: re-run)
    exited      its process ended by itself (exit code)           start (a job: re-run)
    restarting  in a restart loop                                 restart
    unhealthy   running, failing its healthcheck                  restart
    changed     a field differs from what hostform applied        update in place, or replace
    image       the tag now resolves to another local image       replace
    port        a published host port served by another process   nothing (taken); restart (served by no one)
                or container, or by no one (plans.portdrift)
    squatter    an unmanaged object holds a declared name         nothing: hostform never touches it
    orphan      managed by the stack, no longer declared          delete
                (with the stack's label, in no generation: made   nothing: reported, never adopted
                by hand with copied labels)                       or deleted
    pending     declared, not applied yet (not in the record)     counted only with --include-pending

"Applied before" is what the record on the engine says (runtime.record): a
removed object takes its labels with it, the record does not. The JSON form is
pinned in docs/drift.md.
"""

from __future__ import annotations

import signal
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from hostform.declare import names
from hostform.declare.canonical import file_digest
from hostform.declare.load import LoadedStack
from hostform.declare.names import Address, Kind
from hostform.declare.secrets import MASK, UNKNOWN, Secret
from hostform.declare.spec import ContainerSpec
from hostform.plans.diff import PlanOptions, hand_made_warning, make_plan, reload_targets
from hostform.plans.fields import IN_PLACE, LIFTED_BY_REPLACE
from hostform.plans.model import Action, Change, Plan, PlanMode, Reason, ReasonKind, public, short_image_id
from hostform.runtime.container_config import naming
from hostform.runtime.engine import Engine
from hostform.runtime.generation import Generation
from hostform.runtime.observe import observe_stack
from hostform.runtime.records import Conflict, Observed, ObservedContainer

FORMAT_VERSION = "1.3"  # 1.1: the drift kind "port"; 1.2: the Swarm kinds and the kind "node"; 1.3: unset_secrets
READ_LIMIT = 1 << 20  # runtime.engine.Engine.read_file's default: bigger files read back as None


class Drift(StrEnum):
    MISSING = "missing"
    STOPPED = "stopped"
    EXITED = "exited"
    RESTARTING = "restarting"
    UNHEALTHY = "unhealthy"
    CHANGED = "changed"
    IMAGE = "image"
    PORT = "port"
    SQUATTER = "squatter"
    ORPHAN = "orphan"
    PENDING = "pending"
    # on Swarm (plans/swarm_drift.py)
    DEGRADED = "degraded"  # fewer running tasks than desired
    UNSCHEDULABLE = "unschedulable"  # tasks pending: no node fits
    NODE_DOWN = "node down"
    ROLLED_BACK = "rolled back"
    PAUSED = "paused"


SWARM_DRIFT = frozenset({Drift.DEGRADED, Drift.UNSCHEDULABLE, Drift.NODE_DOWN, Drift.ROLLED_BACK, Drift.PAUSED})


@dataclass(frozen=True)
class FieldDrift:
    path: str
    expected: Any  # what hostform applied (for in-place fields: what the stack declares)
    live: Any  # what the host has; None when absent


@dataclass(frozen=True)
class Finding:
    """One drift of one resource; a resource may have several (stopped and changed, say)."""

    kind: str  # container | job | network | volume
    name: str
    address: str
    engine_name: str
    drift: Drift
    fields: tuple[FieldDrift, ...] = ()
    detail: str = ""
    remedy: Action = Action.NOOP  # what --fix does about it alone

    @property
    def fixable(self) -> bool:
        return self.remedy is not Action.NOOP or self.drift is Drift.PENDING


@dataclass(frozen=True)
class DriftReport:
    stack: str
    checked_at: datetime
    findings: tuple[Finding, ...]
    include_pending: bool = False
    unset_secrets: tuple[str, ...] = ()  # not set where drift ran: each stood for the value last applied

    def counts(self, finding: Finding) -> bool:
        return finding.drift is not Drift.PENDING or self.include_pending

    @property
    def drifted(self) -> list[Finding]:
        return [f for f in self.findings if self.counts(f)]

    @property
    def pending(self) -> list[Finding]:
        return [f for f in self.findings if f.drift is Drift.PENDING]

    @property
    def in_sync(self) -> bool:
        return not self.drifted


# ---------------------------------------------------------------- what the record says


def absent(change: Change, record: Generation | None, where: str = "host") -> Finding:
    """Declared and not on the host (or the swarm): `missing` when the record lists it, else `pending`."""
    if record is None:
        engine = "swarm" if where == "swarm" else "engine"
        why = (
            f"declared, and no apply of this stack is recorded on this {engine} (never applied, or applied by "
            "a hostform that kept no record: the next apply starts it)"
        )
        return _finding(change, Drift.PENDING, (), why, Action.CREATE)
    found = record.find(change.address, change.engine_name)
    when = f"generation {record.number} ({record.at}, {record.by})"
    if found is None:
        return _finding(change, Drift.PENDING, (), f"declared after the last recorded apply, {when}", Action.CREATE)
    return _finding(
        change, Drift.MISSING, (), f"not on the {where}; the last apply left it there: {when}", Action.CREATE
    )


def _hand_made(loaded: LoadedStack, observed: Observed) -> Iterator[Finding]:
    """Objects with the stack's label that no generation lists: reported, never adopted or deleted."""
    by_name = {c.engine_name: c for c in observed.containers}
    for kind, engine_name in observed.hand_made:
        c = by_name.get(engine_name)
        shown = c.kind if c is not None and c.kind in ("container", "job") else kind
        detail = hand_made_warning(loaded.name, kind, engine_name)
        # addressed by its engine name: its labels may copy a declared resource's address
        yield Finding(shown, c.name if c else engine_name, engine_name, engine_name, Drift.ORPHAN, (), detail)


def rfc3339(seconds: float | datetime) -> str:
    when = seconds if isinstance(seconds, datetime) else datetime.fromtimestamp(seconds, UTC)
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------- the check


def check(
    engine: Engine,
    loaded: LoadedStack,
    include_pending: bool = False,
    netns: str | None = None,
    observed: Observed | None = None,
) -> tuple[DriftReport, Plan]:
    """`observed`: an observation just made (with the stack lock, on a remote engine), else one is."""
    if observed is None:
        observed = observe_stack(engine, loaded)  # the record's newest generation comes with it (one inspect)
    plan = make_plan(loaded, observed, PlanOptions())
    report = replace(detect(loaded, observed, plan, include_pending), unset_secrets=unset_secrets(loaded))
    from hostform.plans.portdrift import with_blocked_fix, with_port_drift  # the host's sockets: only where needed

    report = with_port_drift(engine, loaded, observed, report, netns)
    return with_blocked_fix(engine, loaded, report, plan, netns), plan


def unset_secrets(loaded: LoadedStack) -> tuple[str, ...]:
    """The secrets (env values, files, the `secrets` key) not set where drift runs, which needs none:
    each stands for the value last applied, so everything else is compared; a new value of one of
    them is what drift cannot see (`hostform plan`, with it set, shows it)."""
    return loaded.unset_secrets


def detect(
    loaded: LoadedStack,
    observed: Observed,
    plan: Plan,
    include_pending: bool = False,
    now: datetime | None = None,
) -> DriftReport:
    """Sort the plan's changes and the live facts into findings; touches nothing."""
    by_id = {c.id: c for c in observed.containers}
    findings: list[Finding] = []
    for change in plan.changes:
        current = by_id.get(change.current_id or "")
        findings.extend(_findings(loaded, observed, change, current))
    findings.extend(_squatters(loaded, observed.conflicts))
    findings.extend(_hand_made(loaded, observed))
    return DriftReport(loaded.name, now or datetime.now(UTC), sort_findings(findings), include_pending)


def sort_findings(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    order = list(Drift)
    return tuple(sorted(findings, key=lambda f: (f.address, order.index(f.drift))))


def _findings(
    loaded: LoadedStack, observed: Observed, change: Change, current: ObservedContainer | None
) -> Iterator[Finding]:
    if change.action is Action.CREATE:
        yield absent(change, observed.record)
    elif change.action is Action.DELETE:
        text = "; ".join(r.text for r in change.reasons if r.text) or "no longer declared"
        yield _finding(change, Drift.ORPHAN, (), f"managed by stack {loaded.name!r}: {text}", Action.DELETE)
    elif change.kind in ("network", "volume"):
        fields = tuple(FieldDrift(r.path, r.after, r.before) for r in change.reasons if r.kind is ReasonKind.FIELD)
        if fields:
            yield _finding(change, Drift.PENDING, fields, "declared change not applied yet", change.action)
    elif current is not None:
        yield from _service_findings(loaded, observed, change, current)


def _finding(
    change: Change, drift: Drift, fields: Iterable[FieldDrift], detail: str, remedy: Action = Action.NOOP
) -> Finding:
    return Finding(change.kind, change.name, change.address, change.engine_name, drift, tuple(fields), detail, remedy)


def _squatters(loaded: LoadedStack, conflicts: Iterable[Conflict]) -> Iterator[Finding]:
    owners = _declared_addresses(loaded)
    for c in conflicts:
        kind, name, address = owners.get((c.kind, c.engine_name), (c.kind, c.engine_name, c.engine_name))
        who = f"belongs to stack {c.owner!r}" if c.owner else "has no hostform labels (made by hand?)"
        detail = f"{c.kind} {c.engine_name!r} {who}; hostform never touches it: remove or rename it, then apply"
        live = FieldDrift(f"labels.{names.LABEL_STACK}", loaded.name, c.owner)
        yield Finding(kind, name, address, c.engine_name, Drift.SQUATTER, (live,), detail)


def _declared_addresses(loaded: LoadedStack) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(conflict kind, engine name) -> (resource kind, name, address)."""
    stack = loaded.stack
    out: dict[tuple[str, str], tuple[str, str, str]] = {}
    for name, spec in stack.services().items():
        kind = "job" if name in stack.jobs else "container"
        for i in range(1, spec.replicas + 1):
            address = str(Address.of(kind, name, i, spec.replicas))
            out[("container", names.container_name(stack.name, name, i, spec.replicas))] = (kind, name, address)
    for name in (*stack.networks, names.DEFAULT_NETWORK):
        out[("network", names.network_name(stack.name, name))] = ("network", name, str(Address(Kind.NETWORK, name)))
    for name in stack.volumes:
        out[("volume", names.volume_name(stack.name, name))] = ("volume", name, str(Address(Kind.VOLUME, name)))
    return out


# ---------------------------------------------------------------- containers and jobs


def _service_findings(
    loaded: LoadedStack, observed: Observed, change: Change, current: ObservedContainer
) -> Iterator[Finding]:
    spec = loaded.stack.services()[change.name]
    last = current.last_applied
    for finding in (_state_finding(change, current, spec), _image_finding(change, spec, last)):
        if finding is not None:
            yield finding
    changed, pending, notes = _sorted_reasons(loaded, change, current)
    changed += _settings_drift(last, current, observed.key) + _file_drift(loaded, spec, last, current, observed.key)
    if changed:
        in_place = all(f.path.split(".", 1)[0] in IN_PLACE and not lifted(f) for f in changed)
        notes += [
            f"the engine cannot lift a {f.path} limit in place: a new container does" for f in changed if lifted(f)
        ]
        detail = f"changed outside hostform: {_paths(changed)}" + "".join(f"; {n}" for n in notes)
        yield _finding(change, Drift.CHANGED, changed, detail, Action.UPDATE if in_place else Action.REPLACE)
    if pending:
        detail = f"declared change not applied yet: {_paths(pending)}"
        yield _finding(change, Drift.PENDING, pending, detail, change.action)


def lifted(f: FieldDrift) -> bool:
    """A limit set outside hostform on a container declared without one: only a new container lifts it."""
    return f.path in LIFTED_BY_REPLACE and f.expected is None


def _sorted_reasons(
    loaded: LoadedStack, change: Change, current: ObservedContainer
) -> tuple[list[FieldDrift], list[FieldDrift], list[str]]:
    """The plan's reasons as (changed outside hostform, pending in the stack file, notes)."""
    last = current.last_applied
    changed: list[FieldDrift] = []
    pending: list[FieldDrift] = []
    notes: list[str] = []
    for r in change.reasons:
        field = FieldDrift(r.path, r.after, r.before)
        if r.kind is ReasonKind.FIELD:
            pending.append(field)
        elif r.kind is ReasonKind.LIVE and r.path.startswith("files["):
            continue  # the file's own evidence comes from _file_drift
        elif r.kind is ReasonKind.LIVE:
            declared_only = not r.outside and _same(r.before, _applied_value(r.path, last, naming(loaded), change.name))
            (pending if declared_only else changed).append(field)
        elif r.kind is ReasonKind.RELOAD and _file_unchanged(r.path, last, current):
            pending.append(field)
        elif r.kind is ReasonKind.UNTRACKED:
            changed.append(FieldDrift(f"labels.{names.LABEL_SPEC}", "(last-applied spec)", None))
            notes.append("it carries no readable last-applied spec")
        elif r.kind is ReasonKind.LEFTOVER:
            changed.append(FieldDrift("engine_name", change.engine_name, current.engine_name))
            notes.append(r.text)
    return changed, pending, notes


def _image_finding(change: Change, spec: ContainerSpec, last: dict[str, Any] | None) -> Finding | None:
    """The tag moved; a changed `image` in the stack file is pending instead."""
    for r in change.reasons:
        if r.kind is ReasonKind.IMAGE and (last is None or last.get("image") == spec.image):
            now, runs = short_image_id(r.after), short_image_id(r.before)
            detail = f"{spec.image} now resolves to {now}; the container runs {runs}"
            return _finding(change, Drift.IMAGE, [FieldDrift("image_id", r.after, r.before)], detail, Action.REPLACE)
    return None


def _paths(fields: list[FieldDrift]) -> str:
    return ", ".join(f.path for f in fields)


def _state_finding(change: Change, c: ObservedContainer, spec: ContainerSpec) -> Finding | None:
    is_job = change.kind == "job"
    state = FieldDrift("state", "exited" if is_job else "running", c.state)
    rerun = Action.REPLACE if is_job else Action.START
    if c.state == "running":
        return _unhealthy(change, c) if c.health == "unhealthy" else None
    if c.state == "restarting":
        policy = c.settings.restart if c.settings else spec.restart
        detail = f"restarting in a loop: {c.restart_count} restarts (restart = {policy!r})"
        detail += f", last exit code {c.exit_code}"
        fields = [state, FieldDrift("exit_code", None, c.exit_code)]
        return _finding(change, Drift.RESTARTING, fields, detail, Action.RESTART)
    if c.state == "paused":
        return _finding(change, Drift.STOPPED, [state], "paused outside hostform (docker pause)", Action.RESTART)
    if c.state == "created":
        return _finding(change, Drift.STOPPED, [state], "created but never started", rerun)
    if c.state in ("exited", "dead") and not (is_job and c.exit_code == 0):
        return _ended(change, c, spec, state, rerun)
    return None  # a running job, a completed job, a container being removed


def _unhealthy(change: Change, c: ObservedContainer) -> Finding:
    detail = f"failing its healthcheck; last check said: {c.health_output or '(no output)'}"
    return _finding(change, Drift.UNHEALTHY, [FieldDrift("health", "healthy", "unhealthy")], detail, Action.RESTART)


def _ended(change: Change, c: ObservedContainer, spec: ContainerSpec, state: FieldDrift, rerun: Action) -> Finding:
    fields = [state, FieldDrift("exit_code", 0 if change.kind == "job" else None, c.exit_code)]
    signame = _stopped_by(c, spec)
    if signame is not None:
        return _finding(change, Drift.STOPPED, fields, f"stopped outside hostform ({signame})", rerun)
    oom = " (killed: out of memory)" if c.oom_killed else ""
    return _finding(change, Drift.EXITED, fields, f"exited with code {c.exit_code}{oom}", rerun)


def _stopped_by(c: ObservedContainer, spec: ContainerSpec) -> str | None:
    """How we know a container was stopped from outside rather than ended by itself.

    A crash under restart = always / unless-stopped would be restarted by the
    engine; otherwise the exit code says the process died of a stop signal.
    """
    if c.oom_killed:
        return None
    policy = c.settings.restart if c.settings else spec.restart
    if c.state == "exited" and policy in ("always", "unless-stopped"):
        return f"exit code {c.exit_code} under restart = {policy!r}: the engine would have restarted a crash"
    for sig in {spec.stop_signal or "SIGTERM", "SIGTERM", "SIGKILL"}:
        number = _signal_number(sig)
        if number is not None and c.exit_code == 128 + number:
            return f"exit code {c.exit_code}: killed by {signal.Signals(number).name}"
    return None


def _signal_number(name: str) -> int | None:
    if name.isdigit():
        return int(name)
    try:
        return int(signal.Signals[name])
    except KeyError:
        return None


def _applied_value(path: str, last: dict[str, Any] | None, naming: names.Naming, name: str) -> Any:
    """An in-place field of the last-applied spec, in the form the live value has."""
    if last is None:
        return None
    if path != "networks":
        return last.get(path)
    nets = last.get("networks") or []
    if not nets:
        return {naming.network(names.DEFAULT_NETWORK): [name]}
    return {naming.network(a["name"]): sorted({name, *a.get("aliases", [])}) for a in nets}


def _same(live: Any, applied: Any) -> bool:
    if isinstance(live, dict) and isinstance(applied, dict):
        return {k: sorted(v) for k, v in live.items()} == {k: sorted(v) for k, v in applied.items()}
    return bool(live == applied)


def _settings_drift(last: dict[str, Any] | None, c: ObservedContainer, key: bytes | None) -> list[FieldDrift]:
    """Env, labels and published ports against the last-applied spec (recreated by hand?)."""
    live = c.settings
    if last is None or live is None:
        return []
    out = []
    env = dict(live.env)
    for k, want in sorted((last.get("env") or {}).items()):
        have = env.get(k)
        if isinstance(want, dict):  # a secret: only its keyed hash is known
            if key is not None and (have is None or Secret(have).digest(key) != want.get("secret")):
                out.append(FieldDrift(f"env.{k}", MASK, None if have is None else MASK))
        elif have != want:
            out.append(FieldDrift(f"env.{k}", want, have))
    labels = dict(live.labels)
    for k, want in sorted((last.get("labels") or {}).items()):
        if labels.get(k) != want:
            out.append(FieldDrift(f"labels.{k}", want, labels.get(k)))
    if c.state == "running" and not _ports_match(last.get("ports") or [], live.ports):
        out.append(FieldDrift("ports", [_port_text(p) for p in last.get("ports") or []], list(live.ports)))
    return out


def _ports_match(declared: list[dict[str, Any]], bound: Iterable[str]) -> bool:
    """Bindings as `ip:port->port/proto`; the engine binds an empty host IP on each address family."""
    live = set()
    for b in bound:
        host, _, target = b.partition("->")
        ip, _, port = host.rpartition(":")
        live.add((target, port, ip))
    want = [(f"{p['container_port']}/{p['protocol']}", p.get("host_port"), p.get("host_ip") or "") for p in declared]

    def covers(w: tuple[str, Any, str], have: tuple[str, str, str]) -> bool:
        return w[0] == have[0] and (w[1] is None or str(w[1]) == have[1]) and (not w[2] or w[2] == have[2])

    return all(any(covers(w, h) for h in live) for w in want) and all(any(covers(w, h) for w in want) for h in live)


def _port_text(p: dict[str, Any]) -> str:
    host = f"{p['host_ip']}:" if p.get("host_ip") else ""
    host += f"{p['host_port']}:" if p.get("host_port") else ""
    return f"{host}{p['container_port']}/{p['protocol']}"


def _file_drift(
    loaded: LoadedStack, spec: ContainerSpec, last: dict[str, Any] | None, c: ObservedContainer, key: bytes | None
) -> list[FieldDrift]:
    """Config files inside the container against the (keyed) digests of the last apply."""
    live = dict(c.file_hashes)
    reloadable = reload_targets(loaded, spec)
    desired = {f.target: loaded.files[f.source] for f in spec.files if f.source in loaded.files}
    out = []
    for f in (last or {}).get("files") or []:
        target = f["target"]
        if target not in live or live[target] == f["sha256"]:
            continue
        have = live[target]
        now = desired.get(target)
        if have is None and now is not None and len(now.data) > READ_LIMIT:
            continue  # too big to read back: not compared
        now_digest = file_digest(now.content, key) if now is not None and key else None
        now_digest = None if now_digest == UNKNOWN else now_digest  # a secret not set here: not compared
        if target in reloadable and now_digest is not None and have == now_digest:
            continue  # copied in and signalled by a later apply: the label's hash is stale by design
        expected = now_digest if target in reloadable and now_digest is not None else f["sha256"]
        secret = bool(f.get("secret")) or bool(now and now.is_secret)
        out.append(FieldDrift(f"files[{target}].sha256", _hash_view(expected, secret), _hash_view(have, secret)))
    return out


def _file_unchanged(path: str, last: dict[str, Any] | None, c: ObservedContainer) -> bool:
    """A reloadable file still as last applied: its RELOAD reason is the stack file's doing."""
    target = path.removeprefix("files[").split("]", 1)[0]
    applied = {f["target"]: f["sha256"] for f in (last or {}).get("files") or []}
    return target in applied and dict(c.file_hashes).get(target) == applied[target]


def _hash_view(digest: str | None, secret: bool) -> str | None:
    if digest is None:
        return None
    return MASK if secret else f"sha256:{digest[:12]}"


# ---------------------------------------------------------------- --fix

_STRENGTH = [Action.NOOP, Action.START, Action.RESTART, Action.UPDATE, Action.REPLACE]


def fix_plan(report: DriftReport, plan: Plan) -> Plan:
    """The plan's changes for the drifted resources only, with the action the drift needs.

    A replacement builds the container from the stack file as it is now, so a
    pending change of that same resource goes with it; its reasons show it.
    """
    by_address: dict[str, list[Finding]] = {}
    for f in report.drifted:
        by_address.setdefault(f.address, []).append(f)
    changes = []
    for change in plan.changes:
        found = by_address.get(change.address)
        if not found:
            continue
        action = _fix_action([f.remedy for f in found])
        if action is not Action.NOOP:
            changes.append(replace(change, action=action, reasons=_fix_reasons(change, found)))
    unfixable = tuple(f"cannot fix {f.address}: {f.detail}" for f in report.drifted if not f.fixable)
    return replace(plan, changes=tuple(changes), conflicts=(), warnings=unfixable, mode=PlanMode.FIX)


def _fix_action(remedies: list[Action]) -> Action:
    for terminal in (Action.CREATE, Action.DELETE):
        if terminal in remedies:
            return terminal
    if Action.RESTART in remedies and Action.UPDATE in remedies:
        return Action.REPLACE  # an update does not restart: a new container does both
    known = [r for r in remedies if r in _STRENGTH]
    return max(known, key=_STRENGTH.index, default=Action.NOOP)


def _fix_reasons(change: Change, found: list[Finding]) -> tuple[Reason, ...]:
    """The plan's reasons, plus what only drift sees (hand-made copies, edited files, the state)."""
    state = [f for f in found if f.drift in _STATES]
    said_by_state = (ReasonKind.STOPPED, ReasonKind.JOB_FAILED)
    reasons = [r for r in change.reasons if not (state and r.kind in said_by_state)]
    shown = {r.path for r in reasons if r.path}
    for f in found:
        for fd in f.fields if f.drift in (Drift.CHANGED, Drift.PENDING) else ():
            if fd.path not in shown:
                reasons.append(Reason(ReasonKind.LIVE, fd.path, fd.live, fd.expected, outside=True))
    for f in state:
        reasons.append(Reason(ReasonKind.LIVE, "state", text=f"{f.drift.value}: {f.detail}", outside=True))
    return tuple(reasons)


_STATES = (Drift.STOPPED, Drift.EXITED, Drift.RESTARTING, Drift.UNHEALTHY)


# ---------------------------------------------------------------- renderings


def report_json(report: DriftReport) -> dict[str, Any]:
    """The pinned JSON form (docs/drift.md); secrets only ever as (secret)."""
    return {
        "format_version": FORMAT_VERSION,
        "stack": report.stack,
        "checked_at": rfc3339(report.checked_at),
        "in_sync": report.in_sync,
        "drift_count": len(report.drifted),
        "pending_count": len(report.pending),
        **({"unset_secrets": list(report.unset_secrets)} if report.unset_secrets else {}),
        "resources": [
            {
                "kind": f.kind,
                "name": f.name,
                "address": f.address,
                "engine_name": f.engine_name,
                "drift": f.drift.value,
                "fields": [{"path": d.path, "expected": public(d.expected), "live": public(d.live)} for d in f.fields],
                "detail": f.detail,
            }
            for f in report.findings
        ],
    }


__all__ = [
    "Drift",
    "DriftReport",
    "FieldDrift",
    "Finding",
    "check",
    "detect",
    "fix_plan",
    "report_json",
]
