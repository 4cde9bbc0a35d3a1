"""Drift on Swarm: what a cron job must hear about a cluster.

- a service running fewer tasks than desired, with its tasks' errors;
- tasks pending because no node fits (the scheduler's message);
- a service updated by hand (`docker service update`, `docker service scale`);
- a node down (named: its tasks were rescheduled, or wait for it);
- an update Swarm paused or rolled back;
- a declared service absent (missing once the stack was applied, else pending), an orphan.
`--fix` converges through the applier, under the stack's lock.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from hostform.declare.load import LoadedStack
from hostform.plans.drift import Drift, DriftReport, Finding, report_json
from hostform.plans.model import Action, Plan
from hostform.plans.swarm_commands import stage_observe
from hostform.plans.swarm_plan import swarm_plan
from hostform.runtime.engine import Engine
from hostform.runtime.swarm import SwarmObserved, SwarmService

EXIT_OK, EXIT_CHANGES = 0, 2


def check(engine: Engine, loaded: LoadedStack, include_pending: bool = False) -> tuple[DriftReport, Plan]:
    import os

    observed = stage_observe(engine, loaded)
    plan = swarm_plan(loaded, observed, observed.key or os.urandom(16))
    findings = [*_nodes(observed), *_services(loaded, observed, plan)]
    return DriftReport(loaded.name, datetime.now(UTC), tuple(findings), include_pending), plan


def _nodes(observed: SwarmObserved) -> list[Finding]:
    out = []
    for node in observed.nodes:
        if node.state != "ready":
            ours = [t for t in observed.tasks if t.node_id == node.id and t.desired_state == "running"]
            gone = [t for t in observed.tasks if t.node_id == node.id and t.desired_state == "shutdown"]
            detail = f"node {node.hostname} is {node.state}"
            if ours:
                detail += f"; {len(ours)} task(s) of the stack still assigned to it"
            elif gone:
                detail += "; the stack's tasks that ran there were rescheduled"
            out.append(
                Finding("node", node.hostname, f"nodes.{node.hostname}", node.id[:12], Drift.NODE_DOWN, detail=detail)
            )
    return out


def _services(loaded: LoadedStack, observed: SwarmObserved, plan: Plan) -> list[Finding]:
    out: list[Finding] = []
    by_address = {c.address: c for c in plan.changes}
    applied_before = observed.key is not None  # the default network (made by every apply) exists
    for name in sorted(loaded.stack.services()):
        kind = "job" if name in loaded.stack.jobs else "container"
        address = f"{kind}s.{name}" if kind == "job" else f"containers.{name}"
        live = observed.service(name)
        change = by_address.get(address)
        if live is None:
            drift = Drift.MISSING if applied_before else Drift.PENDING
            engine_name = change.engine_name if change else name
            out.append(Finding(kind, name, address, engine_name, drift, detail="no such service", remedy=Action.CREATE))
            continue
        out.extend(_service_findings(kind, name, address, live, observed))
        if change is not None and change.action is Action.UPDATE and not any(f.address == address for f in out):
            shown = "; ".join(str(r) for r in change.reasons[:-1])
            out.append(
                Finding(kind, name, address, live.engine_name, Drift.PENDING, detail=shown, remedy=Action.UPDATE)
            )
    declared = set(loaded.stack.services())
    for s in observed.services:
        if s.name not in declared:
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
        out.append(finding(Drift.UNSCHEDULABLE, f"{len(pending)} task(s) pending: {why}"))
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


def cmd_drift(args: argparse.Namespace, engine: Engine, loaded: LoadedStack) -> int:
    from contextlib import redirect_stdout

    from hostform.plans.commands import stage_apply, stage_confirm, stage_report
    from hostform.plans.drift_view import print_report
    from hostform.plans.render import print_plan
    from hostform.runtime.lock import stack_lock

    report, plan = check(engine, loaded, args.include_pending)
    if args.fix and not report.in_sync:
        quiet = argparse.Namespace(**{**vars(args), "json": False})
        with redirect_stdout(sys.stderr if args.json else sys.stdout):
            print_report(report)
            with stack_lock(engine, loaded.name, "drift --fix"):
                report, plan = check(engine, loaded, args.include_pending)
                fix = fix_plan(report, plan)
                if fix.has_changes:
                    print_plan(fix)
                    if stage_confirm(args, fix, "fix this drift"):
                        code = stage_report(stage_apply(quiet, engine, loaded, fix), fix, verb="Fix")
                        if code != EXIT_OK:
                            return code
                        report, _ = check(engine, loaded, args.include_pending)
                        print("After the fix:")
    if args.json:
        print(json.dumps(report_json(report), indent=2))
    else:
        print_report(report)
    return EXIT_OK if report.in_sync else EXIT_CHANGES
