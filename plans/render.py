"""Plan renderings: text (colour only on a terminal) and JSON.

The text is built as lines of (text, style) segments. On a terminal, or when
colour is forced, rich draws them in colour; otherwise they are written as
plain text, so a no-op plan in a pipeline or a cron job never imports rich
(about 15 ms of a run that is otherwise ~0.3 s).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, TextIO

from hostform.plans.escape import for_terminal
from hostform.plans.model import Action, Change, Plan, PlanMode, Reason, ReasonKind, ReplaceOrder, display, public

if TYPE_CHECKING:
    from rich.console import Console

MARKS = {
    Action.CREATE: ("+", "green", "will be created"),
    Action.REPLACE: ("-/+", "yellow", "will be replaced"),
    Action.UPDATE: ("~", "yellow", "will be updated in place"),
    Action.RESTART: ("~", "yellow", "will be restarted"),
    Action.START: (">", "cyan", "will be started"),
    Action.DELETE: ("-", "red", "will be destroyed"),
    Action.BUILD: ("+", "green", "will be built"),
    Action.PUSH: ("^", "cyan", "will be pushed"),
}

Segment = tuple[str, str]  # text, rich style ("" for none)
Line = tuple[Segment, ...]


def plan_lines(plan: Plan, heading: str = "", empty: str = "") -> Iterator[Line]:
    """The text rendering of a plan, line by line."""
    for conflict in plan.conflicts:
        yield ((f"! conflict: {conflict}", "bold red"),)
    for warning in plan.warnings:
        yield ((f"! warning: {warning}", "yellow"),)
    if not plan.has_changes and plan.conflicts:
        yield ((f"No other changes; stack {plan.stack!r} cannot match the host while these conflicts remain.", ""),)
        return
    if not plan.has_changes:
        yield ((empty or f"No changes. Stack {plan.stack!r} matches the host.", "bold green"),)
        return
    yield ((heading or f"hostform will perform these actions on stack {plan.stack!r}:", ""),)
    yield (("", ""),)
    for change in plan.actionable:
        yield from _change_lines(change, shown_reasons(plan, change))
    yield ((plan.summary(), "bold"),)


def counted(n: int, noun: str, plural: str = "") -> str:
    """`1 change`, `2 changes` (`plural` where adding an s is wrong)."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def shown_reasons(plan: Plan, change: Change) -> list[Reason]:
    """The reasons worth a line: not `new` under a creation, nor `destroy` under every line of a
    destroy plan (its heading says so once)."""
    return [
        r
        for r in change.reasons
        if r.kind is not ReasonKind.NEW and not (plan.mode is PlanMode.DESTROY and r.kind is ReasonKind.ORPHAN)
    ]


def mark_of(change: Change) -> str:
    """The action's mark; a replacement's says its order: `-/+` stop-first, `+/-` start-first."""
    if change.action is Action.REPLACE and change.order is not None:
        return change.order.mark
    return MARKS[change.action][0]


def _change_lines(change: Change, reasons: list[Reason]) -> Iterable[Line]:
    _, style, verb = MARKS[change.action]
    mark = mark_of(change)
    yield (
        (f"  {mark:>3} ", style),
        (f"{change.action.value if change.is_image else change.kind} ", "bold"),
        (change.engine_name, "bold"),
        (f"  ({change.address}) {verb}", "dim"),
    )
    width = max((len(key) for key, _ in change.attributes), default=0)
    for key, value in change.attributes:
        yield ((f"        {key:<{width}} = {value}", "dim"),)
    for risk in change.risks:
        yield ((f"        ! risk {risk}", "bold red"),)
    for reason in reasons:
        reason_style = style if change.action is not Action.CREATE else "dim"
        yield ((f"        {_reason_mark(change)} {reason}", reason_style),)
        for diff_line in reason.diff.splitlines():
            yield ((f"          {diff_line}", _diff_style(diff_line)),)


def _diff_style(line: str) -> str:
    if line.startswith(("+++", "---")):
        return "bold"
    return {"+": "green", "-": "red", "@": "cyan"}.get(line[:1], "")


def _reason_mark(change: Change) -> str:
    return "#" if change.action in (Action.CREATE, Action.DELETE, Action.START, Action.BUILD, Action.PUSH) else "~"


def wants_colour(stream: TextIO) -> bool:
    """Whether rich should draw: a terminal, or colour forced the way rich reads it (FORCE_COLOR)."""
    return stream.isatty() or bool(os.environ.get("FORCE_COLOR"))


def print_lines(lines: Iterable[Line], console: Console | None = None) -> None:
    """Plain text when nothing would be coloured, rich otherwise (or into the given console)."""
    shown = (tuple((for_terminal(text), style) for text, style in line) for line in lines)  # escaped here alone
    if console is None and not wants_colour(sys.stdout):
        sys.stdout.write("".join("".join(text for text, _ in line) + "\n" for line in shown))
        sys.stdout.flush()  # progress lines arrive one by one: a pipe sees each when it happens
        return
    from rich.console import Console
    from rich.text import Text

    console = console or Console(highlight=False, soft_wrap=True)
    for line in shown:
        text = Text()
        for part, style in line:
            text.append(part, style=style or None)
        console.print(text, highlight=False)


def print_plan(plan: Plan, console: Console | None = None, heading: str = "", empty: str = "") -> None:
    print_lines(plan_lines(plan, heading, empty), console)


def plan_json(plan: Plan) -> dict[str, Any]:
    """The plan as JSON (modelled on Terraform's JSON plan); secrets masked."""
    return {
        "format_version": "1.1",
        "stack": plan.stack,
        "mode": plan.mode.value,
        "applicable": plan.applicable,
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
        "actions": _tf_actions(c),
        "action": c.action.value,
        "replace_order": c.order.value if c.order and c.action is Action.REPLACE else None,
        "action_reason": [r.kind.value for r in c.reasons],
        "replace_paths": c.replace_paths if c.action is Action.REPLACE else [],
        "attributes": [{"key": k, "value": v} for k, v in c.attributes],
        "risks": list(c.risks),
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


def _tf_actions(c: Change) -> list[str]:
    if c.action is Action.REPLACE and c.order is ReplaceOrder.START_FIRST:
        return ["create", "delete"]  # Terraform's create_before_destroy
    return {
        Action.CREATE: ["create"],
        Action.REPLACE: ["delete", "create"],
        Action.UPDATE: ["update"],
        Action.RESTART: ["update"],
        Action.START: ["update"],
        Action.DELETE: ["delete"],
        Action.BUILD: ["create"],
        Action.PUSH: ["update"],
        Action.NOOP: ["no-op"],
    }[c.action]


__all__ = ["counted", "display", "plan_json", "plan_lines", "print_lines", "print_plan"]
