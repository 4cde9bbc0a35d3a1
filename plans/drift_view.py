"""The text rendering of a drift report: a table of findings (rich), then a verdict.

A report with no findings, the usual answer to a cron job, is one line: written
as plain text on a pipe, without importing rich (see plans.render.print_lines).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from hostform.plans.drift import Drift, DriftReport, Finding
from hostform.plans.escape import for_terminal
from hostform.plans.model import display
from hostform.plans.render import Line, counted, print_lines

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.text import Text

_STYLE = {
    Drift.PENDING: "dim",
    Drift.SQUATTER: "bold red",
    Drift.PORT: "bold red",
    Drift.MISSING: "red",
    Drift.ORPHAN: "yellow",
}
_BY_HAND = {
    Drift.SQUATTER: "squatters",
    Drift.PORT: "ports taken by something else",
    Drift.ORPHAN: "objects made by hand with copied labels",
}


class DriftView:
    """One table row per finding, then the verdict."""

    def __init__(self, report: DriftReport) -> None:
        self.report = report

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.table import Table
        from rich.text import Text

        report = self.report
        if report.findings:
            table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
            for column in ("resource", "engine name", "drift", "evidence"):
                table.add_column(column, overflow="fold")
            for f in report.findings:
                style = _STYLE.get(f.drift, "yellow") if report.counts(f) else "dim"
                table.add_row(
                    Text(for_terminal(f.address)),  # Text, not str: a str cell would be read as rich markup
                    Text(for_terminal(f.engine_name)),
                    Text(f.drift.value, style=style),
                    _evidence(f),
                )
            yield table
            yield Text("")
        ((words, style),) = verdict(report)
        yield Text(words, style=style)


def _evidence(f: Finding) -> Text:
    from rich.text import Text

    text = Text(for_terminal(f.detail))
    for line in evidence_lines(f):
        text.append(f"\n  {for_terminal(line)}", style="dim")
    return text


def evidence_lines(f: Finding) -> list[str]:
    """One line per field that differs: a field the host holds as expected says nothing (a job's
    state is `exited` either way: its exit code tells), and a value the stack file does not set
    is said so, not `expected (none)`."""
    lines = []
    for d in f.fields:
        live, expected = display(d.live, d.path), display(d.expected, d.path)
        if live == expected:
            continue
        if d.expected is None:
            lines.append(f"{d.path}: {live}" + ("" if d.path in _NO_EXPECTATION else " (the stack file sets none)"))
        else:
            lines.append(f"{d.path}: {live} (expected {expected})")
    return lines


_NO_EXPECTATION = ("exit_code",)  # a container that should run has no exit code to expect


def verdict(report: DriftReport) -> Line:
    pending = len(report.pending)
    note = f" {counted(pending, 'pending change')} in the stack file: see `hostform plan`." if pending else ""
    if report.unset_secrets:
        note += (
            f" Not compared: a new value of {', '.join(report.unset_secrets)} (not set here; the value last "
            "applied stands for it)."
        )
    if report.in_sync:
        if pending and not report.include_pending:
            note += " (--include-pending counts them as drift)"
        return ((f"No drift: stack {report.stack!r} matches what hostform applied.{note}", "bold green"),)
    fixable = sum(f.fixable for f in report.drifted)
    by_hand = {f.drift for f in report.drifted if not f.fixable}
    taken = {f.address for f in report.drifted if f.drift is Drift.PORT and not f.fixable}
    blocked = any(f.fixable and f.address in taken for f in report.drifted)  # --fix would bind a taken port
    hint = "`hostform drift --fix` converges them" if fixable else ""
    hint = "`hostform drift --fix` refuses while a port it would publish is taken" if blocked else hint
    if by_hand:
        what = " and ".join(_BY_HAND.get(d, f"{d.value} findings") for d in sorted(by_hand, key=list(Drift).index))
        hint += ("; " if hint else "") + f"{what} must be dealt with by hand"
    return ((f"Drift: {counted(len(report.drifted), 'finding')} in stack {report.stack!r}; {hint}.{note}", "bold red"),)


def print_report(report: DriftReport, console: Console | None = None) -> None:
    if not report.findings:
        print_lines([verdict(report)], console)
        return
    from rich.console import Console

    (console or Console(highlight=False, soft_wrap=False, width=_pipe_width())).print(DriftView(report))


def _pipe_width() -> int | None:
    """Not on a terminal (a pipe, a file, a cron mail) rows are not wrapped at rich's default 80
    columns: a line holds the whole row. COLUMNS, when set, still says how wide."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS"):
        return None
    return PIPE_WIDTH


PIPE_WIDTH = 100_000  # wider than any row: the table's columns are as wide as their cells


__all__ = ["DriftView", "evidence_lines", "print_report", "verdict"]
