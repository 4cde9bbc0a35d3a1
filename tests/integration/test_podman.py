"""What is Podman's own: run with HOSTFORM_TEST_ENGINE=podman (scripts/test does, from
tests/podman.txt); on Docker these tests have nothing to check and are skipped."""

from __future__ import annotations

import pytest

from tests.integration.conftest import BUSYBOX, ENGINE, StackFixture

pytestmark = pytest.mark.skipif(ENGINE != "podman", reason="Podman only (HOSTFORM_TEST_ENGINE=podman)")


def test_a_resource_change_is_a_replacement_said_at_plan_time(stack: StackFixture) -> None:
    body = f'[containers.app]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "600"]\nstop_signal = "SIGKILL"\n'
    stack.write(body + 'memory = "64m"\n')
    stack.apply()
    before = stack.inspect(f"{stack.name}-app")["Id"]
    stack.write(body + 'memory = "96m"\n')
    plan = stack.plan()
    assert plan.code == 2, plan.both
    assert "memory changes in place are not supported by podman" in plan.out, plan.out
    assert "will be replaced" in plan.out, plan.out
    stack.apply()
    after = stack.inspect(f"{stack.name}-app")
    assert after["Id"] != before and after["HostConfig"]["Memory"] == 96 * 1024 * 1024
    assert stack.plan().code == 0


def test_a_healthy_dependency_is_waited_for_without_systemd(stack: StackFixture) -> None:
    stack.write(f"""
[containers.db]
image = "{BUSYBOX}"
command = ["sh", "-c", "sleep 2; touch /tmp/ready; sleep 600"]
stop_signal = "SIGKILL"
healthcheck = {{ test = "test -f /tmp/ready", interval = "1s", retries = 10 }}

[containers.app]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
depends_on = {{ db = "healthy" }}
""")
    stack.apply()
    assert stack.inspect(f"{stack.name}-db")["State"]["Health"]["Status"] == "healthy"
    assert stack.inspect(f"{stack.name}-app")["State"]["Running"] is True
