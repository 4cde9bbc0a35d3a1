"""depends_on conditions on the real engine: dependents start only after their condition holds."""

from __future__ import annotations

from tests.integration.conftest import StackFixture
from tests.integration.test_convergence_support import (  # noqa: F401 - conv_image and convergence_stack are fixtures
    IMAGE,
    READY_HEALTH,
    SLEEPER,
    conv_image,
    convergence_stack,
    engine_time,
    exists,
    health,
    started,
)

NEVER_HEALTHY = health('["CMD-SHELL", "echo db-probe-says-no-$((40+2)); exit 1"]', retries=2)
READY_AFTER = 2.5  # the db below cannot pass its healthcheck before this many seconds


def test_healthy_waits_for_the_healthcheck_and_started_does_not(stack: StackFixture) -> None:
    stack.write(f"""
[containers.db]
image = "{IMAGE}"
command = ["sh", "-c", "sleep {READY_AFTER}; touch /tmp/ready; exec sleep 600"]
stop_signal = "SIGKILL"
{READY_HEALTH}
[containers.web]
{SLEEPER}depends_on = {{ db = "healthy" }}

[containers.side]
{SLEEPER}depends_on = {{ db = "started" }}
""")
    stack.apply()
    db, web, side = (stack.inspect(f"{stack.name}-{n}") for n in ("db", "web", "side"))
    assert db["State"]["Health"]["Status"] == "healthy"
    # /tmp/ready appears READY_AFTER seconds after db started: web cannot have been created before
    assert engine_time(web["Created"]) - started(db) >= READY_AFTER
    assert started(web) - started(db) >= READY_AFTER
    # "started" is satisfied at once: side was created before db could have been healthy
    assert started(side) >= started(db)
    assert engine_time(side["Created"]) - started(db) < READY_AFTER
    assert stack.plan().code == 0


def test_completed_waits_for_the_job_to_exit(stack: StackFixture) -> None:
    stack.write(f"""
[jobs.seed]
image = "{IMAGE}"
command = ["sh", "-c", "sleep 1; echo seeded"]

[containers.app]
{SLEEPER}depends_on = {{ seed = "completed" }}
""")
    stack.apply()
    seed, app = stack.inspect(f"{stack.name}-seed"), stack.inspect(f"{stack.name}-app")
    assert seed["State"]["Status"] == "exited" and seed["State"]["ExitCode"] == 0
    assert engine_time(app["Created"]) >= engine_time(seed["State"]["FinishedAt"])
    assert started(app) >= engine_time(seed["State"]["FinishedAt"])


def test_never_healthy_dependency_fails_with_its_health_log_and_dependents_are_not_created(stack: StackFixture) -> None:
    # the health output is computed by the shell, so finding it proves it came from the health log
    stack.write(f"""
[containers.db]
{SLEEPER}{NEVER_HEALTHY}
[containers.web]
{SLEEPER}depends_on = {{ db = "healthy" }}

[jobs.migrate]
image = "{IMAGE}"
command = ["true"]
depends_on = {{ db = "healthy" }}
""")
    result = stack.apply(check=False)
    assert result.code == 1, result.both
    assert "unhealthy" in result.err
    assert "db-probe-says-no-42" in result.err
    assert "dependency 'db' (healthy)" in result.err
    assert "Traceback" not in result.both
    assert exists(stack, f"{stack.name}-db")
    assert not exists(stack, f"{stack.name}-web")
    assert not exists(stack, f"{stack.name}-migrate")
