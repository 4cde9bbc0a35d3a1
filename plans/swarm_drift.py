"""Drift on Swarm: what a cron job must hear about a cluster.

- a service running fewer tasks than desired, with its tasks' errors;
- tasks pending because no node fits (the scheduler's message);
- a service updated by hand (`docker service update`, `docker service scale`);
- a node down (named: its tasks were rescheduled, or wait for it);
- an update Swarm paused or rolled back;
- a declared service absent: missing when the record's newest generation lists it, else pending;
- a service no longer declared (orphan), or one with copied labels no generation lists (told, left).
`--fix` converges through the applier, under the stack's lock.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hostform.declare.load import LoadedStack
from hostform.declare.names import Kind
from hostform.plans.diff import hand_made_warning
from hostform.plans.drift import Drift, DriftReport, Finding, absent, unset_secrets
from hostform.plans.model import Action, Change, Plan
from hostform.plans.render import counted
from hostform.plans.swarm_commands import stage_observe
from hostform.plans.swarm_plan import swarm_plan
from hostform.runtime.engine import Engine
from hostform.runtime.swarm import SwarmObserved, SwarmService
from hostform.runtime.swarm_spec import service_name


def check(engine: Engine, loaded: LoadedStack, include_pending: bool = False) -> tuple[DriftReport, Plan]:
    import os

    observed = stage_observe(engine, loaded)
    plan = swarm_plan(loaded, observed, observed.key or os.urandom(16))
    findings = [*_nodes(observed), *_services(loaded, observed, plan)]
    unset = unset_secrets(loaded)  # each stands for its last-applied value (swarm_plan), as on one host
    return DriftReport(loaded.name, datetime.now(UTC), tuple(findings), include_pending, unset), plan


def _nodes(observed: SwarmObserved) -> list[Finding]:
    out = []
    for node in observed.nodes:
        if node.state != "ready":
            ours = [t for t in observed.tasks if t.node_id == node.id and t.desired_state == "running"]
            gone = [t for t in observed.tasks if t.node_id == node.id and t.desired_state == "shutdown"]
            detail = f"node {node.hostname} is {node.state}"
            if ours:
                detail += f"; {counted(len(ours), 'task')} of the stack still assigned to it"
            elif gone:
                detail += "; the stack's tasks that ran there were rescheduled"
            out.append(
                Finding("node", node.hostname, f"nodes.{node.hostname}", node.id[:12], Drift.NODE_DOWN, detail=detail)
            )
    return out


def _services(loaded: LoadedStack, observed: SwarmObserved, plan: Plan) -> list[Finding]:
    out: list[Finding] = []
    by_address = {c.address: c for c in plan.changes}
    for name in sorted(loaded.stack.services()):
        kind = "job" if name in loaded.stack.jobs else "container"
        address = f"{kind}s.{name}" if kind == "job" else f"containers.{name}"
        live = observed.service(name)
        change = by_address.get(address)
        if live is None:  # missing when the record lists it, else pending (never by the file's age)
            absent_change = change or Change(address, Kind(kind), name, service_name(loaded.name, name), Action.CREATE)
            out.append(absent(absent_change, observed.record, "swarm"))
            continue
        out.extend(_service_findings(kind, name, address, live, observed))
        if change is not None and change.action is Action.UPDATE and not any(f.address == address for f in out):
            shown = "; ".join(str(r) for r in change.reasons[:-1])
            out.append(
                Finding(kind, name, address, live.engine_name, Drift.PENDING, detail=shown, remedy=Action.UPDATE)
            )
    declared = {service_name(loaded.name, n) for n in loaded.stack.services()}
    for s in observed.services:
        if s.engine_name in declared:
            continue
        if observed.unrecorded(s.engine_name):
            # addressed by its engine name: its labels may copy a declared resource's address
            detail = hand_made_warning(loaded.name, s.kind, s.engine_name)
            out.append(Finding(s.kind, s.name, s.engine_name, s.engine_name, Drift.ORPHAN, detail=detail))
        else:
            address = f"{'jobs' if s.kind == 'job' else 'containers'}.{s.name}"
            out.append(
                Finding(
                    s.kind,
                    s.name,
                    address,
                    s.engine_name,
                    Drift.ORPHAN,
                    detail="no longer declared",
                    remedy=Action.DELETE,
                )
            )
    return out


def _service_findings(kind: str, name: str, address: str, live: SwarmService, observed: SwarmObserved) -> list[Finding]:
    def finding(drift: Drift, detail: str, remedy: Action = Action.NOOP) -> Finding:
        return Finding(kind, name, address, live.engine_name, drift, detail=detail, remedy=remedy)

    out = []
    tasks = observed.tasks_of(live.id)
    if live.sent is not None and live.sent != live.owned:
        out.append(
            finding(Drift.CHANGED, "the service was updated outside hostform (docker service update)", Action.UPDATE)
        )
    if live.update_state in ("rollback_completed", "rollback_paused"):
        out.append(
            finding(Drift.ROLLED_BACK, f"Swarm rolled the last update back: {live.update_message}", Action.UPDATE)
        )
    elif live.update_state == "paused":
        out.append(finding(Drift.PAUSED, f"Swarm paused the last update: {live.update_message}", Action.UPDATE))
    pending = [t for t in tasks if t.desired_state == "running" and t.state == "pending"]
    if pending:
        why = pending[0].error or pending[0].message
        out.append(finding(Drift.UNSCHEDULABLE, f"{counted(len(pending), 'task')} pending: {why}"))
    if live.mode == "replicated" and live.replicas is not None:
        running = [t for t in tasks if t.desired_state == "running" and t.state == "running"]
        if len(running) < live.replicas:
            failed = sorted(
                (t for t in tasks if t.error and t.state in ("failed", "rejected")), key=lambda t: t.updated
            )
            errors = sorted({f"{observed.node_name(t.node_id)}: {t.error}" for t in failed[-3:]})
            detail = f"{len(running)}/{live.replicas} tasks running" + (
                f"; task errors: {'; '.join(errors)}" if errors else ""
            )
            out.append(finding(Drift.DEGRADED, detail))
    return out


def fix_plan(report: DriftReport, plan: Plan) -> Plan:
    """The plan's changes for the drifted services only (a node down is for operators to fix)."""
    wanted = {f.address for f in report.drifted if f.remedy is not Action.NOOP}
    changes = tuple(
        c
        for c in plan.changes
        if c.address in wanted or (c.kind in ("network", "config", "secret") and c.action is Action.CREATE)
    )
    if not any(c.is_service and c.action is not Action.NOOP for c in changes):
        changes = ()
    return Plan(
        plan.stack, changes, plan.fingerprint, plan.conflicts, plan.warnings, plan.live, plan.key, plan.key_known
    )
