"""Plans and drift while an apply holds the stack's lock: its temporary objects are not drift.

An apply in flight has containers named `<name>--new-…` / `--old-…` and replicas being
swapped. A plan made meanwhile would call them "left by an interrupted apply" and a drift
check would raise an alarm on every deploy; both say "apply in progress" instead. On Swarm the
apply's services are mid-update (tasks below desired, an update under way): the same holds.
"""

from __future__ import annotations

from dataclasses import replace

from hostform.plans.model import Action, Plan, ReasonKind


def note(held: str, swarm: bool = False) -> str:
    if swarm:
        return f"apply in progress ({held}): its services may be mid-update; plan again when it finishes"
    return f"apply in progress ({held}): its temporary containers are not shown; plan again when it finishes"


def while_applying(plan: Plan, held: str, swarm: bool = False) -> Plan:
    """The plan without what the running apply is doing: deletions of its temporary containers,
    and replacements asked for only because a temporary container stands in for the real one."""
    changes = []
    for c in plan.changes:
        kept = tuple(r for r in c.reasons if r.kind is not ReasonKind.LEFTOVER)
        if c.reasons and not kept:
            if c.action is Action.DELETE:
                continue
            c = replace(c, action=Action.NOOP, reasons=())
        changes.append(c)
    return replace(plan, changes=tuple(changes), warnings=(*plan.warnings, note(held, swarm)))
