"""Jobs: run to completion before dependents, re-run only when their spec changes, stop the apply on failure."""

from __future__ import annotations

from tests.integration.conftest import StackFixture
from tests.integration.test_convergence_support import (  # noqa: F401 - conv_image and convergence_stack are fixtures
    IMAGE,
    SLEEPER,
    conv_image,
    convergence_stack,
    engine_time,
    env_of,
    exists,
    started,
)

MIGRATE = '["sh", "-c", "echo migrating; sleep 1; echo migrated"]'


def _stack(job_rev: str, app_rev: str, job_command: str = MIGRATE) -> str:
    return f"""
[jobs.migrate]
image = "{IMAGE}"
command = {job_command}
env = {{ REV = "{job_rev}" }}

[containers.app]
{SLEEPER}env = {{ REV = "{app_rev}" }}
depends_on = {{ migrate = "completed" }}
"""


def test_job_runs_before_dependents_and_reruns_only_when_its_spec_changes(stack: StackFixture) -> None:
    job, app = f"{stack.name}-migrate", f"{stack.name}-app"
    stack.write(_stack("1", "1"))
    stack.apply()
    first = stack.inspect(job)
    assert first["State"]["Status"] == "exited" and first["State"]["ExitCode"] == 0
    assert started(stack.inspect(app)) >= engine_time(first["State"]["FinishedAt"])

    # nothing changed: no re-run
    assert stack.plan().code == 0
    stack.apply()
    again = stack.inspect(job)
    assert (again["Id"], again["State"]["StartedAt"]) == (first["Id"], first["State"]["StartedAt"])

    # only the dependent changed: the job is left alone
    stack.write(_stack("1", "2"))
    stack.apply()
    assert env_of(stack.inspect(app))["REV"] == "2"
    again = stack.inspect(job)
    assert (again["Id"], again["State"]["StartedAt"]) == (first["Id"], first["State"]["StartedAt"])

    # the job's spec changed: it runs again, to completion
    stack.write(_stack("2", "2"))
    stack.apply()
    rerun = stack.inspect(job)
    assert rerun["Id"] != first["Id"]
    assert started(rerun) > started(first)
    assert rerun["State"]["ExitCode"] == 0 and env_of(rerun)["REV"] == "2"
    assert stack.plan().code == 0


def test_failing_job_stops_the_apply_with_exit_code_and_last_log_lines(stack: StackFixture) -> None:
    failing = '["sh", "-c", "echo step-one; echo boom-$((6*7)) >&2; exit 3"]'
    stack.write(_stack("1", "1", failing))
    result = stack.apply(check=False)
    assert result.code == 1, result.both
    assert "job 'migrate' exited with code 3" in result.err
    assert "step-one" in result.err and "boom-42" in result.err
    assert "containers.app: not done (a dependency failed)" in result.err
    assert "Traceback" not in result.both
    assert not exists(stack, f"{stack.name}-app")

    # the failed run is kept for inspection; the next apply runs the fixed job and carries on
    stack.write(_stack("1", "1"))
    stack.apply()
    assert stack.inspect(f"{stack.name}-migrate")["State"]["ExitCode"] == 0
    assert stack.inspect(f"{stack.name}-app")["State"]["Running"]
    assert stack.plan().code == 0
