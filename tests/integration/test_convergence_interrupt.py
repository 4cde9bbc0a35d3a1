"""Interrupted applies: a re-run always converges, nothing temporary is left, volume data survives.

The stack replaces three containers one by one (--parallelism 1), each with a
named volume holding data and a healthcheck that passes only after a moment,
so a replacement takes a while and there are many different points to stop at.
One of the three is start-first, so both replacement paths get interrupted.
"""

from __future__ import annotations

import signal
import time
import uuid

import pytest

from tests.integration.conftest import StackFixture
from tests.integration.test_convergence_support import (  # noqa: F401 - conv_image and convergence_stack are fixtures
    IMAGE,
    READY_HEALTH,
    SIGNALS,
    apply_in_background,
    conv_image,
    convergence_stack,
    env_of,
    exec_out,
    has_lock,
    names_of,
    temporaries,
)

SERVICES = ("a", "b", "c")
KILL_AFTER = (0.0, 0.3, 0.8, 1.5, 2.2, 3.0, 4.2)  # seconds after the first action started


def _stack(version: int) -> str:
    body = ""
    for name in SERVICES:
        order = "start-first" if name == "b" else "stop-first"
        body += f"""
[volumes.data_{name}]

[containers.{name}]
image = "{IMAGE}"
command = ["sh", "-c", "sleep 0.6; touch /tmp/ready; exec sleep 600"]
env = {{ VERSION = "{version}" }}
volumes = ["data_{name}:/data"]
stop_signal = "SIGKILL"
{READY_HEALTH}update = {{ order = "{order}" }}
"""
    return body


def _seed(stack: StackFixture) -> dict[str, str]:
    """Apply version 0 and write a token into each container's volume."""
    stack.write(_stack(0))
    stack.apply()
    tokens = {}
    for name in SERVICES:
        tokens[name] = uuid.uuid4().hex
        exec_out(stack, f"{stack.name}-{name}", "sh", "-c", f"echo {tokens[name]} > /data/proof")
    return tokens


def _assert_converged(stack: StackFixture, version: int, tokens: dict[str, str]) -> None:
    plan = stack.plan()
    assert plan.code == 0, plan.both
    assert temporaries(stack) == []
    assert names_of(stack) == sorted(f"{stack.name}-{n}" for n in SERVICES)
    for name in SERVICES:
        engine_name = f"{stack.name}-{name}"
        info = stack.inspect(engine_name)
        assert info["State"]["Running"], engine_name
        assert env_of(info)["VERSION"] == str(version), engine_name
        assert exec_out(stack, engine_name, "cat", "/data/proof") == tokens[name], f"{engine_name} lost its data"
    assert not has_lock(stack)


def test_sigkill_at_any_point_then_unlock_and_rerun_converges(stack: StackFixture) -> None:
    tokens = _seed(stack)
    left_behind = []
    for version, delay in enumerate(KILL_AFTER, start=1):
        stack.write(_stack(version))
        apply = apply_in_background(stack, "--parallelism", "1")
        apply.wait_event("started")
        time.sleep(delay)
        apply.signal(signal.SIGKILL)
        if apply.finish() != -signal.SIGKILL:  # it finished first: nothing to recover
            _assert_converged(stack, version, tokens)
            continue
        left_behind.append(temporaries(stack))

        blocked = stack.apply(check=False)
        if blocked.code == 0 and "No changes" in blocked.out:
            # killed between releasing the lock and exiting: its work was done
            _assert_converged(stack, version, tokens)
            continue
        assert blocked.code == 1 and "no longer running" in blocked.err, blocked.both
        assert stack.run("unlock", str(stack.file)).code == 0
        stack.apply()
        _assert_converged(stack, version, tokens)
    # the kills did land mid-replacement: temporary containers were there to pick up
    assert any(left_behind), left_behind


@pytest.mark.parametrize("signame", list(SIGNALS))
def test_sigint_or_sigterm_finishes_in_flight_releases_the_lock_exits_130(stack: StackFixture, signame: str) -> None:
    tokens = _seed(stack)
    stack.write(_stack(1))
    apply = apply_in_background(stack, "--parallelism", "1")
    first = apply.wait_event("started")["address"]
    apply.signal(SIGNALS[signame])
    assert apply.finish() == 130, apply.stderr
    assert f"{signame}: finishing the actions in flight" in apply.stderr

    done = [k for k in apply.kinds(first) if k != "progress"]  # a replacement says it stops the old one
    assert done == ["started", "finished"], apply.seen  # the in-flight action completed
    skipped = [e for e in apply.seen if e["event"] == "skipped"]
    assert skipped and all(e["message"] == "interrupted" for e in skipped), apply.seen
    assert not has_lock(stack), "the lock was not released"
    assert temporaries(stack) == []

    stack.apply()  # no unlock needed
    _assert_converged(stack, 1, tokens)
