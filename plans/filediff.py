"""Unified diffs of config files for a plan: the live file against the new content.

A file that holds a secret (now, or at the last apply) is never shown, only
said to have changed.
"""

from __future__ import annotations

from dataclasses import replace

from hostform.declare.frozen import changed
from hostform.declare.load import LoadedStack
from hostform.declare.secrets import Secret, holds_secret
from hostform.plans.diff import HIDDEN_DIFF as HIDDEN
from hostform.plans.model import Change, Plan, Reason
from hostform.runtime.engine import Engine

MAX_DIFF_LINES = 200
BINARY = "(binary file changed)"


def with_file_diffs(plan: Plan, loaded: LoadedStack, engine: Engine) -> Plan:
    return replace(plan, changes=tuple(_change(c, loaded, engine) for c in plan.changes))


def _change(change: Change, loaded: LoadedStack, engine: Engine) -> Change:
    if change.current_id is None or not change.is_service:
        return change
    spec = loaded.stack.services().get(change.name)
    if spec is None:
        return change
    sources = {f.target: f.source for f in spec.files}
    reasons = []
    for reason in change.reasons:
        target = _target(reason)
        if target is not None and target in sources and sources[target] in loaded.files and not reason.diff:
            reason = changed(
                reason, diff=_diff(engine, change.current_id, target, loaded.files[sources[target]].content, reason)
            )
        reasons.append(reason)
    return replace(change, reasons=tuple(reasons))


def _target(reason: Reason) -> str | None:
    if not reason.path.startswith("files[") or not reason.path.endswith(".sha256"):
        return None
    return reason.path.removeprefix("files[").split("]", 1)[0]


def _diff(engine: Engine, ident: str, target: str, content: str | bytes | Secret, reason: Reason) -> str:
    if isinstance(content, Secret):
        return HIDDEN
    old = engine.read_file(ident, target)
    if old is None:
        return ""
    if holds_secret(old.decode(errors="replace")):
        return HIDDEN  # the live file holds a secret read in this run (under another name, say)
    try:
        old_text = old.decode()
        if isinstance(content, bytes):  # a `source` file, taken byte for byte
            content = content.decode()
    except UnicodeDecodeError:
        return BINARY
    import difflib  # only when a file changed

    lines = list(
        difflib.unified_diff(
            old_text.splitlines(keepends=True), content.splitlines(keepends=True), f"{target} (live)", f"{target} (new)"
        )
    )
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more lines\n"]
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines).rstrip("\n")
