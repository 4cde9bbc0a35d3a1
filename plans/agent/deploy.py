"""One stack's operations for the agent, through the CLI's own pipelines (plans.commands):
`deploy` is `hostform plan` (mode plan) or `hostform apply --auto-approve`; `heal` is
`hostform drift --fix --auto-approve`; `prune` is `hostform destroy --auto-approve` (volumes
kept); `record` is what `hostform history` reads. Nothing here plans, applies or records by itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hostform.declare.errors import HostformError
from hostform.declare.load import LoadedStack, load_name_only
from hostform.plans import commands
from hostform.plans.model import Action, Plan
from hostform.plans.options import (
    ApplyCommand,
    DestroyCommand,
    DriftCommand,
    EngineOptions,
    Exit,
    PlanCommand,
    StackOptions,
)
from hostform.plans.render import plan_lines
from hostform.runtime.engine import Engine

if TYPE_CHECKING:
    from hostform.plans.apply import Event
    from hostform.plans.drift import DriftReport

LOCK_WAIT = 60.0  # seconds to wait for a stack's lock held by someone else (a hand apply) before failing
HISTORY_SHOWN = 10


@dataclass
class Operation:
    """What one operation left to show: the plan's text, the apply's events, how long it took."""

    plan: Plan | None = None
    plan_text: str = ""
    events: list[str] = field(default_factory=list)
    seconds: float = 0.0
    name: str = ""

    def show(self, plan: Plan) -> None:
        self.plan = plan
        self.plan_text = plan_text(plan)

    def event(self, event: Event) -> None:
        from hostform.declare.secrets import mask_secrets

        took = f" ({event.seconds:.1f}s)" if event.kind in ("finished", "failed") else ""
        detail = f": {mask_secrets(event.message)}" if event.message else ""
        self.events.append(f"{event.address}: {event.action} {event.kind}{took}{detail}")
        del self.events[:-200]

    @property
    def changed(self) -> bool:
        return self.plan is not None and self.plan.has_changes


def plan_text(plan: Plan) -> str:
    """The plan as `hostform plan` prints it without colour."""
    return "".join("".join(text for text, _ in line) + "\n" for line in plan_lines(plan))


def _stack(path: Path) -> StackOptions:
    return StackOptions(stack=str(path))


def _connected(loaded: LoadedStack, run: Callable[[Engine], Any]) -> Any:
    engine = commands.stage_connect(EngineOptions(), loaded, check_manager=True)
    try:
        return run(engine)
    finally:
        engine.close()


def deploy(path: Path, mode: str) -> Operation:
    """Validate, plan and (mode apply) apply the stack file at `path`; HostformError on any failure
    (a StackError: the file does not validate, nothing was touched)."""
    op = Operation()
    started = time.monotonic()
    loaded = commands.stage_load(_stack(path))
    op.name = loaded.name

    def planned(engine: Engine) -> None:
        _, plan = commands.planned(PlanCommand(stack=_stack(path), engine=EngineOptions()), engine, loaded)
        op.show(plan)
        if not plan.applicable:
            raise HostformError(plan.refusal())

    def applied(engine: Engine) -> None:
        o = ApplyCommand(stack=_stack(path), engine=EngineOptions(), auto_approve=True, lock_timeout=LOCK_WAIT)
        done = commands.apply_loaded(o, engine, loaded, None, op.show, lambda plan: True, op.event)
        if done.code != Exit.OK:
            raise HostformError(f"apply of stack {loaded.name!r} ended with exit code {done.code}")

    _connected(loaded, planned if mode == "plan" else applied)
    op.seconds = time.monotonic() - started
    return op


@dataclass
class Healed:
    report: DriftReport
    fix: Plan | None = None  # the fix applied (None: nothing was)
    busy: str | None = None  # an apply holds the stack's lock: not checked


def heal(path: Path, fix: bool, file_applied: bool = True) -> tuple[Healed, Operation]:
    """Check the stack at `path` for drift and, with `fix`, fix the drifted resources, never a
    pending change: see `never_pending`. `file_applied`: `path` is the file last applied."""
    op = Operation()
    loaded = commands.stage_load(_stack(path), secrets_optional=not fix)
    op.name = loaded.name
    # the file applied: what it declares and the host lacks is to be made (a fix or an apply that
    # failed left it out of the record), as a re-apply of that commit would
    o = DriftCommand(
        stack=_stack(path),
        engine=EngineOptions(),
        fix=fix,
        auto_approve=True,
        lock_timeout=LOCK_WAIT,
        include_pending=file_applied,
    )

    def run(engine: Engine) -> Healed:
        held = commands.apply_in_progress(engine, loaded)
        check = commands.drift_check(engine, loaded, o)
        if held is not None:
            from datetime import UTC, datetime

            from hostform.plans.drift import DriftReport

            return Healed(DriftReport(loaded.name, datetime.now(UTC), ()), busy=held)
        report, _ = check()
        if not never_pending(report, file_applied).drifted or not fix:
            return Healed(report)
        select = partial(never_pending, file_applied=file_applied)
        fixed = commands.fix_drift(engine, loaded, o, check, op.show, lambda plan: True, op.event, select)
        if fixed.code != Exit.OK:
            raise HostformError(f"the fix of stack {loaded.name!r} ended with exit code {fixed.code}")
        return Healed(fixed.report or report, fixed.fix if fixed.report is not None else None)

    healed: Healed = _connected(loaded, run)
    return healed, op


SPEC_FREE = (Action.START, Action.RESTART)  # fixes that take nothing from the stack file


def never_pending(report: DriftReport, file_applied: bool) -> DriftReport:
    """The findings a heal may fix. From the file last applied, all of them: the host is to hold what
    it says. From a file that may be newer than what was applied (mode plan, before the agent saw
    the host match a commit), only starts and restarts, which take nothing from the file: a pending
    change is never applied by a heal, and a missing resource is not re-created from it."""
    if file_applied:
        return report
    return replace(report, findings=tuple(f for f in report.findings if f.remedy in SPEC_FREE))


def prune(path: Path) -> Operation:
    """Destroy the stack whose file (at the commit it was applied from) is at `path`; volumes stay."""
    op = Operation()
    loaded = load_name_only(path)
    op.name = loaded.name
    o = DestroyCommand(stack=_stack(path), engine=EngineOptions(), auto_approve=True, lock_timeout=LOCK_WAIT)

    def run(engine: Engine) -> None:
        from hostform.runtime.lock import stack_lock

        with stack_lock(engine, loaded.name, "destroy", o.lock_timeout):
            done = commands.destroy_locked(o, engine, loaded, op.show, lambda plan: True, op.event)
        if done.code != Exit.OK:
            raise HostformError(f"destroy of stack {loaded.name!r} ended with exit code {done.code}")

    _connected(loaded, run)
    return op


def record(path: Path) -> tuple[dict[str, Any] | None, tuple[dict[str, Any], ...]]:
    """The newest generation and the history of the stack at `path`, as `hostform history --json`."""
    from hostform.plans import history
    from hostform.plans.recording import record_store

    loaded = load_name_only(path)

    def run(engine: Engine) -> tuple[dict[str, Any] | None, tuple[dict[str, Any], ...]]:
        found = history.generations(record_store(engine, loaded))
        shown = tuple(history.generation_json(g, resources=False) for g in found[:HISTORY_SHOWN])
        return (shown[0] if shown else None), shown

    result: tuple[dict[str, Any] | None, tuple[dict[str, Any], ...]] = _connected(loaded, run)
    return result


def findings(report: DriftReport) -> tuple[dict[str, Any], ...]:
    """The report's drift (pending changes left out), in drift --json's form."""
    from hostform.plans.drift import report_json

    return tuple(r for r in report_json(report)["resources"] if r["drift"] != "pending")


__all__ = ["Healed", "Operation", "deploy", "findings", "heal", "plan_text", "prune", "record"]
