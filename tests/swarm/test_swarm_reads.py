"""A Swarm plan asks whether its engine is a manager in the same wave as its other reads: a
worker, a single engine or an unreachable address is still one clear error, before any listing's.
On the manager's unix socket those reads need no docker SDK."""

from __future__ import annotations

import os

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


def test_a_no_op_plan_and_drift_on_the_managers_socket_load_no_http_library(swarm_stack: SwarmStack) -> None:
    """The manager's unix socket is read with the standard library (runtime.unix_reads): listings,
    GET /swarm, the image's registry digest, the record; the docker SDK only comes for writes."""
    from tests.unit.test_startup import SDK, loaded_by

    swarm_stack.write(BODY)
    swarm_stack.apply()
    env = {**os.environ, "DOCKER_HOST": swarm_stack.bed.manager}
    for command in (["plan", str(swarm_stack.file), "--detailed-exitcode"], ["drift", str(swarm_stack.file)]):
        result = loaded_by(*command, cwd=swarm_stack.dir, env=env)
        assert result["code"] == 0, (command, result)
        assert SDK & set(result["loaded"]) == set(), (command, result)  # type: ignore[arg-type]
