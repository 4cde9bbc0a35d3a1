"""One apply per stack at a time: the engine-side lock, its timeout, and a lock left by a killed apply."""

from __future__ import annotations

import re
import signal
import time

from tests.integration.conftest import StackFixture
from tests.integration.test_convergence_support import (  # noqa: F401 - conv_image and convergence_stack are fixtures
    IMAGE,
    SLEEPER,
    Terminal,
    apply_in_background,
    conv_image,
    convergence_stack,
    has_lock,
    names_of,
)


def _slow_stack(seconds: int) -> str:
    return f"""
[jobs.slow]
image = "{IMAGE}"
command = ["sleep", "{seconds}"]
stop_signal = "SIGKILL"

[containers.app]
{SLEEPER}"""


def test_second_apply_fails_at_once_or_waits_for_the_lock(stack: StackFixture) -> None:
    stack.write(_slow_stack(6))
    first = apply_in_background(stack)
    first.wait_event("started", "jobs.slow")  # the lock is taken before any action starts
    assert has_lock(stack)

    began = time.monotonic()
    refused = stack.apply("--lock-timeout", "0", check=False)
    assert refused.code == 1, refused.both
    assert first.proc.poll() is None, "the second apply waited for the first one"
    assert time.monotonic() - began < 5
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
    pattern = rf"stack '{stack.name}' is locked by apply started at {stamp} on host \S+ \(pid {first.proc.pid}\)"
    assert re.search(pattern, refused.err), refused.err
    assert "Traceback" not in refused.both

    waiting = stack.apply("--lock-timeout", "60", check=False)
    assert waiting.code == 0, waiting.both
    assert first.finish() == 0, first.stderr
    assert "No changes" in waiting.out  # it planned after the first apply had converged
    assert not has_lock(stack)


def test_lock_of_a_killed_apply_is_reported_and_unlock_breaks_it(stack: StackFixture) -> None:
    stack.write(_slow_stack(3))
    killed = apply_in_background(stack)
    killed.wait_event("started", "jobs.slow")
    killed.signal(signal.SIGKILL)
    assert killed.finish() == -signal.SIGKILL
    assert has_lock(stack)

    blocked = stack.apply(check=False)
    assert blocked.code == 1, blocked.both
    assert f"stack '{stack.name}' is locked by apply" in blocked.err
    assert "no longer running" in blocked.err and "hostform unlock" in blocked.err

    unlocked = stack.run("unlock", str(stack.file))
    assert unlocked.code == 0, unlocked.both
    assert "lock broken" in unlocked.out
    assert not has_lock(stack)
    assert "is not locked" in stack.run("unlock", str(stack.file)).out

    stack.apply()
    assert stack.plan().code == 0
    assert not has_lock(stack)


def test_sigterm_while_holding_the_lock_before_applying_releases_it(stack: StackFixture) -> None:
    """Stopped at the confirmation prompt (the lock is held, the applier not running yet)."""
    stack.write(_slow_stack(1))
    terminal = Terminal.run(stack, "apply", str(stack.file))
    terminal.wait_for("Only 'yes' will be accepted")
    assert has_lock(stack)
    terminal.proc.send_signal(signal.SIGTERM)
    assert terminal.finish() == 130, terminal.out
    assert not has_lock(stack)
    assert names_of(stack) == []  # nothing was applied


def test_unlock_refuses_a_lock_whose_apply_is_still_running(stack: StackFixture) -> None:
    stack.write(_slow_stack(6))
    first = apply_in_background(stack)
    first.wait_event("started", "jobs.slow")
    refused = stack.run("unlock", str(stack.file))
    assert refused.code == 1 and "still running" in refused.err and "--force" in refused.err, refused.both
    assert has_lock(stack)
    assert first.finish() == 0, first.stderr
    assert not has_lock(stack)
