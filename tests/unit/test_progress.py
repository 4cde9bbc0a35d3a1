"""The live table on a terminal: a job's lines print above it, and a finished row keeps what
its action said last (the signal it sent), as a pipe shows them line by line."""

from __future__ import annotations

import io

from rich.console import Console

from hostform.plans.apply import Event
from hostform.plans.progress import LiveTable


def test_job_output_above_the_table_and_the_signal_kept_on_its_row() -> None:
    out = io.StringIO()
    table = LiveTable(Console(file=out, width=120, force_terminal=True, color_system=None, height=30))
    table.start()
    table.update(Event("started", "jobs.migrate", "create"))
    table.update(Event("output", "jobs.migrate", "create", message="schema v1 applied"))
    table.update(Event("finished", "jobs.migrate", "create", 0.8))
    table.update(Event("started", "containers.web", "update"))
    table.update(Event("progress", "containers.web", "update", message="reload: SIGHUP to blog-web"))
    table.update(Event("finished", "containers.web", "update", 0.2))
    table.stop()
    screen = out.getvalue()
    assert "jobs.migrate | schema v1 applied" in screen
    last = screen.rstrip().splitlines()[-2]  # the final frame, before the cursor comes back
    assert "✓ containers.web update 0.2s reload: SIGHUP to blog-web" in last, screen
