"""Progress: `apply --json` prints one JSON event per line; without it, one readable line per event."""

from __future__ import annotations

from tests.integration.conftest import StackFixture
from tests.integration.test_convergence_support import (  # noqa: F401 - conv_image and convergence_stack are fixtures
    IMAGE,
    SLEEPER,
    Terminal,
    conv_image,
    convergence_stack,
    events,
)


def _stack(job_exit: int) -> str:
    return f"""
[volumes.data]

[jobs.setup]
image = "{IMAGE}"
command = ["sh", "-c", "echo setting-up; exit {job_exit}"]

[containers.one]
{SLEEPER}volumes = ["data:/data"]
depends_on = {{ setup = "completed" }}

[containers.two]
{SLEEPER}"""


def test_json_progress_is_one_event_per_line(stack: StackFixture) -> None:
    stack.write(_stack(0))
    result = stack.apply("--json")
    parsed = events(result.out)  # every line is JSON: no plan text, no stray output
    assert parsed[-1] == {"event": "complete", "done": 5}
    addresses = {"networks.default", "volumes.data", "jobs.setup", "containers.one", "containers.two"}
    for address in addresses:
        said = [e for e in parsed if e.get("address") == address]
        assert [e["message"] for e in said if e["event"] == "output"] == (["setting-up"] if "jobs" in address else [])
        mine = [e for e in said if e["event"] != "output"]  # a job's lines come between its start and its end
        assert [e["event"] for e in mine] == ["started", "finished"], mine
        assert all(e["action"] == "create" and isinstance(e["seconds"], float | int) for e in mine)
        assert mine[1]["seconds"] >= 0 and mine[1]["message"] == ""
    # a dependent starts only after what it needs has finished
    position = {(e["event"], e.get("address")): i for i, e in enumerate(parsed)}
    assert position[("finished", "jobs.setup")] < position[("started", "containers.one")]
    assert position[("finished", "volumes.data")] < position[("started", "containers.one")]


def test_json_progress_reports_failures_and_skips(stack: StackFixture) -> None:
    stack.write(_stack(4))
    result = stack.apply("--json", check=False)
    assert result.code == 1
    parsed = events(result.out)
    failed = [e for e in parsed if e["event"] == "failed"]
    assert [e["address"] for e in failed] == ["jobs.setup"]
    assert "exited with code 4" in failed[0]["message"] and "setting-up" in failed[0]["message"]
    assert failed[0]["seconds"] > 0
    skipped = [e for e in parsed if e["event"] == "skipped"]
    assert [(e["address"], e["message"]) for e in skipped] == [("containers.one", "a dependency failed")]
    assert "job 'setup' exited with code 4" in result.err


def test_text_progress_is_one_line_per_event_off_a_terminal(stack: StackFixture) -> None:
    stack.write(_stack(0))
    result = stack.apply()
    lines = result.out.splitlines()
    assert "containers.two: create started" in lines
    assert any(line.startswith("containers.two: create finished (") for line in lines)
    assert any(line.startswith("jobs.setup: create finished (") for line in lines)
    assert lines[-1] == f"Apply complete: 5 actions on stack '{stack.name}'."
    assert "\x1b[" not in result.out  # no terminal control codes when stdout is not a terminal


def test_live_view_on_a_terminal(stack: StackFixture) -> None:
    stack.write(_stack(0))
    terminal = Terminal.run(stack, "apply", str(stack.file), "--auto-approve")
    code, out = terminal.finish(), terminal.out
    assert code == 0, out
    assert "\x1b[1A" in out  # redrawn in place (cursor up), not appended line by line
    assert "create finished (" not in out  # the line output is not used on a terminal
    final = out.rsplit("\x1b[1A", 1)[-1]  # the last redraw
    for address in ("networks.default", "volumes.data", "jobs.setup", "containers.one", "containers.two"):
        assert address in final
    assert final.count("✓") == 5
    assert f"Apply complete: 5 actions on stack '{stack.name}'." in out
