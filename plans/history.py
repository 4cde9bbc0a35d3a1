"""`hostform history STACK`: the record's generations, newest first (docs/record.md).

Who changed the stack, when, from which commit, and what each operation did.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from hostform.declare.errors import HostformError
from hostform.plans.render import print_lines
from hostform.runtime.engine import Engine
from hostform.runtime.record import Generation, RecordStore

_MARKS = (("add", "+"), ("replace", "-/+"), ("change", "~"), ("destroy", "-"))


def generations(store: RecordStore) -> list[Generation]:
    """Every readable generation, newest first (an unreadable one is left out)."""
    return [g for g in (store.load(h) for h in store.heads()) if g is not None]


def pick(found: list[Generation], stack: str, number: int) -> Generation:
    for g in found:
        if g.number == number:
            return g
    kept = ", ".join(str(g.number) for g in found) or "none"
    raise HostformError(f"stack {stack!r} has no generation {number} in its record (kept: {kept})")


def changed(g: Generation) -> str:
    """`+1 -/+2 ~0 -1`: what was done (adds, replaces, updates, deletes)."""
    done = g.summary.get("done") or {}
    return " ".join(f"{mark}{int(done.get(key, 0))}" for key, mark in _MARKS)


def history_json(stack: str, found: list[Generation]) -> dict[str, Any]:
    return {"stack": stack, "generations": [generation_json(g, resources=False) for g in found]}


def generation_json(g: Generation, resources: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "generation": g.number,
        "operation": g.operation,
        "at": g.at,
        "by": g.by,
        "hostform": g.version,
        "commit": g.commit,
        "declaration": g.declaration,
        "outcome": g.summary.get("outcome", ""),
        "done": g.summary.get("done") or {},
        "changes": g.summary.get("changes") or [],
    }
    if resources:
        doc["resources"] = [
            {"address": r.address, "kind": r.kind, "engine_name": r.engine_name, "digest": r.digest}
            for r in g.resources
        ]
        doc["adopted"] = sorted(g.adopted)
    return doc


def print_history(stack: str, found: list[Generation]) -> None:
    if not found:
        print_lines([((f"No record of stack {stack!r} on this engine: it was never applied here.", ""),)])
        return
    rows = [("gen", "when", "who", "commit", "operation", "outcome", "done")]
    for g in found:
        commit = (g.commit or "-")[:12] + ("+dirty" if (g.commit or "").endswith("+dirty") else "")
        outcome = str(g.summary.get("outcome", ""))
        rows.append((str(g.number), g.at, g.by, commit, g.operation, outcome, changed(g)))
    print_lines([((line, ""),) for line in _table(rows)])


def stacks_on(engine: Engine) -> list[Generation]:
    """The newest generation of every stack recorded on the engine, by stack name."""
    from hostform.runtime.record import every_stack

    found = every_stack(engine)
    return [found[k] for k in sorted(found)]


def print_stacks(found: list[Generation]) -> None:
    if not found:
        print_lines([(("No stack is recorded on this engine.", ""),)])
        return
    rows = [("stack", "gen", "when", "who", "commit", "operation", "outcome")]
    for g in found:
        commit = (g.commit or "-")[:12] + ("+dirty" if (g.commit or "").endswith("+dirty") else "")
        rows.append((g.stack, str(g.number), g.at, g.by, commit, g.operation, str(g.summary.get("outcome", ""))))
    print_lines([((line, ""),) for line in _table(rows)])


def print_generation(g: Generation) -> None:
    lines = [
        f"generation {g.number} of stack {g.stack!r}: {g.operation} {g.summary.get('outcome', '')}",
        f"  when: {g.at}   who: {g.by}   hostform: {g.version}",
        f"  commit: {g.commit or '-'}   declaration: {(g.declaration or '-')[:16]}",
        f"  done: {changed(g)}",
    ]
    for c in g.summary.get("changes") or []:
        lines += change_lines(c)
    lines.append("")
    rows = [("address", "kind", "engine name", "digest")]
    rows += [(r.address, r.kind, r.engine_name, (r.digest or "-")[:16]) for r in g.resources]
    lines += _table(rows)
    if g.adopted:
        lines.append(f"adopted (no hostform labels; kept here by ID): {', '.join(sorted(g.adopted))}")
    print_lines([((_printable(line), ""),) for line in lines])


def _printable(text: str) -> str:
    """A record's text (a label's, an older hostform's unsealed record) as a terminal shows it
    safely: control characters escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def change_lines(c: dict[str, Any]) -> list[str]:
    """One recorded action: what, its result, then why it was planned and what went wrong.
    Everything is read back from the engine: shown on one line each, control characters escaped."""
    what = f"{c.get('action', '')} {c.get('address', '')} ({c.get('engine_name', '')})"
    lines = [_line(f"    {what}: {c.get('result')}")]
    lines += [_line(f"        ~ {reason}") for reason in c.get("reasons") or []]
    for key, label in (("error", "error"), ("why", "not done")):
        if c.get(key):
            lines.append(_line(f"        {label}: {c[key]}"))
    return lines


def _line(text: str) -> str:
    return text if text.isprintable() else json.dumps(text, ensure_ascii=False)[1:-1]


def _table(rows: Sequence[tuple[str, ...]]) -> list[str]:
    rows = [tuple(_printable(cell) for cell in r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows]


__all__ = [
    "changed",
    "generation_json",
    "generations",
    "history_json",
    "pick",
    "print_generation",
    "print_history",
    "print_stacks",
    "stacks_on",
]
