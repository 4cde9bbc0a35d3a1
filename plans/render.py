"""Plan renderings: text for a terminal (rich, colour only on a terminal) and JSON."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.text import Text

from plans.model import Action, Change, Plan, ReasonKind, display, public

MARKS = {
    Action.CREATE: ("+", "green", "will be created"),
    Action.REPLACE: ("-/+", "yellow", "will be replaced"),
    Action.UPDATE: ("~", "yellow", "will be updated in place"),
    Action.RESTART: ("~", "yellow", "will be restarted"),
    Action.START: (">", "cyan", "will be started"),
    Action.DELETE: ("-", "red", "will be destroyed"),
}


class PlanView:
    """The text rendering of a plan, for rich."""

    def __init__(self, plan: Plan, heading: str = "", empty: str = "") -> None:
        self.plan = plan
        self.heading = heading
        self.empty = empty  # what to say when there is nothing to do

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        plan = self.plan
        for conflict in plan.conflicts:
            yield Text(f"! conflict: {conflict}", style="bold red")
        for warning in plan.warnings:
            yield Text(f"! warning: {warning}", style="yellow")
        if not plan.has_changes and plan.conflicts:
            yield Text(f"No other changes; stack {plan.stack!r} cannot match the host while these conflicts remain.")
            return
        if not plan.has_changes:
            yield Text(self.empty or f"No changes. Stack {plan.stack!r} matches the host.", style="bold green")
            return
        yield Text(self.heading or f"hostform will perform these actions on stack {plan.stack!r}:")
        yield Text("")
        for change in plan.actionable:
            yield from _change_lines(change)
        yield Text(plan.summary(), style="bold")


def _change_lines(change: Change) -> Iterable[Text]:
    mark, style, verb = MARKS[change.action]
    line = Text(f"  {mark:>3} ", style=style)
    line.append(f"{change.kind} ", style="bold")
    line.append(change.engine_name, style="bold")
    line.append(f"  ({change.address}) {verb}", style="dim")
    yield line
    for reason in change.reasons:
        if reason.kind is ReasonKind.NEW:
            continue
        yield Text(
            f"        {_reason_mark(change)} {reason}", style=style if change.action is not Action.CREATE else "dim"
        )
        for diff_line in reason.diff.splitlines():
            yield Text(f"          {diff_line}", style=_diff_style(diff_line))


def _diff_style(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "bold"
    return {"+": "green", "-": "red", "@": "cyan"}.get(line[:1], "")


def _reason_mark(change: Change) -> str:
    return "#" if change.action in (Action.CREATE, Action.DELETE, Action.START) else "~"


def print_plan(plan: Plan, console: Console | None = None, heading: str = "", empty: str = "") -> None:
    view = PlanView(plan, heading, empty)
    (console or Console(highlight=False, soft_wrap=True)).print(view, highlight=False)


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan as JSON (modelled on Terraform's JSON plan); secrets masked."""
    return {
        "format_version": "1.0",
        "stack": plan.stack,
        "fingerprint": plan.fingerprint,
        "summary": plan.counts(),
        "conflicts": list(plan.conflicts),
        "warnings": list(plan.warnings),
        "resource_changes": [_change_json(c) for c in plan.changes],
        "resource_drift": [
            {
                "address": c.address,
                "engine_name": c.engine_name,
                "paths": [r.path for r in c.reasons if r.outside],
                "text": [str(r) for r in c.reasons if r.outside],
            }
            for c in plan.changes
            if any(r.outside for r in c.reasons)
        ],
    }


def _change_json(c: Change) -> dict[str, Any]:
    return {
        "address": c.address,
        "kind": c.kind,
        "name": c.name,
        "engine_name": c.engine_name,
        "replica": c.replica,
        "current_id": c.current_id,
        "actions": _tf_actions(c.action),
        "action": c.action.value,
        "action_reason": [r.kind.value for r in c.reasons],
        "replace_paths": c.replace_paths if c.action is Action.REPLACE else [],
        "reasons": [
            {
                "kind": r.kind.value,
                "path": r.path,
                "before": public(r.before),
                "after": public(r.after),
                "text": str(r),
                "outside": r.outside,
                "diff": r.diff,
            }
            for r in c.reasons
        ],
    }


def _tf_actions(action: Action) -> list[str]:
    return {
        Action.CREATE: ["create"],
        Action.REPLACE: ["delete", "create"],
        Action.UPDATE: ["update"],
        Action.RESTART: ["update"],
        Action.START: ["update"],
        Action.DELETE: ["delete"],
        Action.NOOP: ["no-op"],
    }[action]


__all__ = ["PlanView", "display", "plan_json", "print_plan"]
