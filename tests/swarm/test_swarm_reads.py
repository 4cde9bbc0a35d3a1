"""A Swarm plan asks whether its engine is a manager in the same wave as its other reads: a
worker, a single engine or an unreachable address is still one clear error, before any listing's."""

from __future__ import annotations

from tests.swarm.conftest import BUSYBOX, SwarmStack

BODY = f"""
[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_grace_period = "1s"
"""


def test_plan_and_apply_on_an_engine_that_is_no_manager_are_one_clear_error(swarm_stack: SwarmStack) -> None:
    swarm_stack.write(BODY)
    for address in (swarm_stack.bed.nodes["s2"], "unix:///var/run/docker.sock"):
        swarm_stack.env["DOCKER_HOST"] = address
        for result in (swarm_stack.plan(), swarm_stack.apply(check=False)):
            assert result.code == 1 and "Traceback" not in result.err, result.both
            assert result.err.startswith(f"error: the engine at {address} is not a Swarm manager"), result.err
    swarm_stack.env["DOCKER_HOST"] = f"unix://{swarm_stack.dir}/nothing.sock"
    gone = swarm_stack.plan()
    assert gone.code == 1 and "cannot reach the Docker engine at unix://" in gone.err, gone.both
    assert "Traceback" not in gone.err, gone.both
    del swarm_stack.env["DOCKER_HOST"]
    assert swarm_stack.labelled("service") == []  # nothing was made on the manager
    swarm_stack.apply()
    assert swarm_stack.plan().code == 0
