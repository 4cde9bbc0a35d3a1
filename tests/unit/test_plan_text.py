"""The plan's text: plain on a pipe, drawn by rich on a terminal; the same words either way."""

from __future__ import annotations

import io
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console

from hostform.plans.model import Action, Change, Plan, Reason, ReasonKind, ReplaceOrder
from hostform.plans.render import plan_lines, print_plan

REPO = Path(__file__).resolve().parents[2]


def _plan(*changes: Change) -> Plan:
    return Plan(stack="blog", changes=changes, fingerprint="f")


WEB = Change(
    "containers.web",
    "container",
    "web",
    "blog-web",
    Action.REPLACE,
    (
        Reason(ReasonKind.FIELD, "command", ["sleep", "1"], ["sleep", "2"]),
        Reason(ReasonKind.FIELD, "files./etc/app.conf", "a", "b", diff="--- live\n+++ new\n@@ -1 +1 @@\n-a\n+b"),
    ),
    current_id="1" * 64,
)
NET = Change("networks.default", "network", "default", "blog_default", Action.CREATE, (Reason(ReasonKind.NEW),))


@pytest.mark.parametrize(
    "plan",
    [_plan(), _plan(NET, WEB), Plan("blog", (), "f", conflicts=("container 'blog-x' [not ours]",))],
    ids=["no-op", "changes", "conflict"],
)
def test_plain_text_is_what_rich_prints_without_colour(plan: Plan, capsys: pytest.CaptureFixture[str]) -> None:
    print_plan(plan)  # stdout is captured: not a terminal
    plain = capsys.readouterr().out
    recorded = Console(file=io.StringIO(), width=300, color_system=None, soft_wrap=True)
    print_plan(plan, recorded)
    assert plain == recorded.file.getvalue()  # type: ignore[attr-defined]
    coloured = Console(file=io.StringIO(), width=300, color_system="standard", force_terminal=True, soft_wrap=True)
    print_plan(plan, coloured)
    text = coloured.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b[" in text and text != plain


def test_the_lines_carry_marks_reasons_and_diffs() -> None:
    text = ["".join(part for part, _ in line) for line in plan_lines(_plan(NET, WEB))]
    assert "    + network blog_default  (networks.default) will be created" in text
    assert any(line.startswith("  -/+ container blog-web") for line in text)
    assert "          +b" in text and text[-1] == "Plan: 1 to add, 1 to replace, 0 to change, 0 to destroy."


def test_a_replacement_shows_its_order() -> None:
    start_first = replace(WEB, order=ReplaceOrder.START_FIRST)
    text = ["".join(part for part, _ in line) for line in plan_lines(_plan(start_first))]
    assert any(line.startswith("  +/- container blog-web") for line in text)
    stop_first = replace(WEB, order=ReplaceOrder.STOP_FIRST)
    text = ["".join(part for part, _ in line) for line in plan_lines(_plan(stop_first))]
    assert any(line.startswith("  -/+ container blog-web") for line in text)
    from hostform.plans.markdown import render_markdown

    assert "| +/- replace | `containers.web` |" in render_markdown(_plan(start_first))
    assert "| -/+ replace | `containers.web` |" in render_markdown(_plan(stop_first))


def test_markup_in_names_or_messages_is_printed_as_is(capsys: pytest.CaptureFixture[str]) -> None:
    plan = Plan("blog", (), "f", conflicts=("container '[bold]x[/bold]' exists",))
    print_plan(plan)
    assert "'[bold]x[/bold]'" in capsys.readouterr().out


def test_a_plan_on_a_pipe_never_imports_rich() -> None:
    code = (
        "import sys\n"
        "from hostform.plans.model import Plan\n"
        "from hostform.plans.render import print_plan\n"
        "print_plan(Plan('blog', (), 'f'))\n"
        "assert 'rich' not in sys.modules, sorted(m for m in sys.modules if m.startswith('rich'))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "No changes. Stack 'blog' matches the host.\n"


def test_durations_inside_a_table_read_as_written() -> None:
    from hostform.plans.model import display

    hc = {"test": ["CMD", "true"], "interval": 1_500_000_000, "retries": 3}
    assert display(hc, "healthcheck") == '{test = ["CMD", "true"], interval = 1s500ms, retries = 3}'


def test_a_changed_list_of_ports_or_mounts_shows_only_the_entries_that_changed() -> None:
    port = {"container_port": 80, "host_port": 8080, "host_ip": "", "protocol": "tcp"}
    moved = {**port, "host_port": 8081, "host_ip": "127.0.0.1"}
    extra = {"container_port": 443, "host_port": None, "host_ip": "", "protocol": "udp"}
    ports = Reason(ReasonKind.FIELD, "ports", [port], [moved, extra])
    assert str(ports) == "ports: + 127.0.0.1:8081:80/tcp, + 443/udp, - 8080:80/tcp"
    mount = {"type": "volume", "source": "data", "target": "/d", "read_only": False}
    mounts = Reason(ReasonKind.FIELD, "volumes", [mount], [{**mount, "read_only": True}])
    assert str(mounts) == "volumes: + data:/d:ro, - data:/d"
    # a command is a sequence, not a set: shown whole
    command = Reason(ReasonKind.FIELD, "command", ["sleep", "1"], ["sleep", "2"])
    assert str(command) == 'command: ["sleep", "1"] -> ["sleep", "2"]'


def test_a_value_with_newlines_pipes_and_fences_stays_in_its_table_row_and_code_block() -> None:
    from hostform.plans.markdown import render_markdown

    tricky = "a | b ``` </details>\n# H"
    change = Change(
        "containers.web",
        "container",
        "web",
        "blog-web",
        Action.REPLACE,
        (Reason(ReasonKind.FIELD, "env.X", None, tricky),),
        current_id="1" * 64,
    )
    text = render_markdown(_plan(change))
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    # header + one row, the pipe escaped, the newline shown as \n (every punctuation mark escaped)
    assert len(rows) == 2 and "\\|" in rows[1] and "\\\\n\\# H" in rows[1]
    assert not any(line.startswith("# H") for line in text.splitlines())
    assert text.count("````") == 2
