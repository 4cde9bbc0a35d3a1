"""A live view of an apply on a terminal: one row per action, redrawn in place.

Used only when stdout is a terminal; a pipe or a file gets plain lines (or JSON
with --json) from the CLI's EventReporter instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from rich.console import Console, RenderableType
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from hostform.plans.apply import Event
from hostform.plans.escape import for_terminal

MARKS = {"finished": ("✓", "green"), "failed": ("✗", "red"), "skipped": ("-", "yellow")}


@dataclass
class Row:
    address: str
    action: str
    kind: str  # started (running) | finished | failed | skipped
    message: str = ""
    seconds: float = 0.0
    began: float = field(default_factory=time.monotonic)


class LiveTable:
    """Rows of actions; running ones spin and count seconds, finished ones fold away when space runs out."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.rows: list[Row] = []
        self._live = Live(console=console, get_renderable=self._render, refresh_per_second=8, transient=False)

    def start(self) -> None:
        self._live.start()

    def stop(self) -> None:
        self._live.stop()

    def update(self, event: Event) -> None:
        running = [r for r in self.rows if (r.address, r.action, r.kind) == (event.address, event.action, "started")]
        if event.kind == "output":  # a job's line: above the table, where it stays
            self._live.console.print(Text(f"{event.address} | {event.message}", style="dim"))
            return
        if event.kind == "progress":  # a build step: shown on its row while it runs
            for row in self.rows:
                if row.address == event.address and row.kind == "started":
                    row.message = event.message
            self._live.refresh()
            return
        if event.kind in ("finished", "failed") and running:
            row = running[-1]  # a finished row keeps what it said last (the signal it sent)
            row.kind, row.seconds, row.message = event.kind, event.seconds, event.message or row.message
        else:
            self.rows.append(Row(event.address, event.action, event.kind, event.message, event.seconds))
        self._live.refresh()

    def _render(self) -> RenderableType:
        room = max(3, self.console.height - 3)
        shown = self.rows
        if len(shown) > room:  # keep what is running or went wrong; count the finished ones
            shown = [r for r in self.rows if r.kind != "finished"][-room:]
        table = Table.grid(padding=(0, 1))
        folded = len(self.rows) - len(shown)
        if folded:
            table.add_row("", Text(f"{folded} more finished", style="dim"))
        for row in shown:
            table.add_row(*self._cells(row))
        return table

    def _cells(self, row: Row) -> tuple[RenderableType, ...]:
        symbol, style = MARKS.get(row.kind, ("", ""))
        if row.kind == "started":
            mark: RenderableType = Spinner("dots", style="cyan")
            took = f"{time.monotonic() - row.began:.1f}s"
        else:
            mark = Text(symbol, style=style)
            took = "" if row.kind == "skipped" else f"{row.seconds:.1f}s"
        message = Text(for_terminal(row.message), style=style)
        return mark, Text(for_terminal(row.address), style="bold"), Text(row.action), Text(took, style="dim"), message
