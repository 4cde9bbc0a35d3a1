"""A Swarm plan asks whether its engine is a manager in the same wave as its other reads: a
worker, a single engine or an unreachable address is still one clear error, before any listing's.
On the manager's unix socket those reads need no docker SDK."""

from __future__ import annotations

import json
import os
import subprocess
import sys

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


NOOP_PATH = """
import json, sys
from hostform.plans.cli import main
code = main(["plan", sys.argv[1], "--detailed-exitcode"])
unused = ("hostform.plans.hostcheck", "hostform.plans.exposure", "hostform.plans.filediff", "hostform.plans.drift_view",
          "hostform.runtime.build_context", "hostform.runtime.hostnet", "hostform.runtime.enginenet",
          "hostform.runtime.lock", "hostform.plans.apply", "hostform.plans.swarm_apply", "hostform.plans.planfile",
          "hostform.plans.progress", "hostform.plans.busy", "rich", "deepdiff", "jinja2", "pyroute2",
          "docker", "requests", "urllib3",
          "pydantic", "pydantic_core", "annotated_types", "hostform.declare.schema")  # the stack from the cache
print(json.dumps({"code": code, "loaded": [m for m in unused if m in sys.modules]}), file=sys.stderr)
"""


def test_a_no_op_swarm_plan_loads_only_what_it_needs(swarm_stack: SwarmStack) -> None:
    # Not a timing test (bench/swarm.py measures): it keeps the modules only other paths need
    # (host checks, exposure rules, build contexts, appliers, saved plans) off the no-op path.
    swarm_stack.write(BODY)
    swarm_stack.apply()
    env = {**os.environ, "DOCKER_HOST": swarm_stack.bed.manager, **swarm_stack.env}
    proc = subprocess.run(
        [sys.executable, "-c", NOOP_PATH, str(swarm_stack.file)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        cwd=swarm_stack.dir,  # where apply ran: the cache of validated stacks is keyed by the working folder too
    )
    assert "No changes" in proc.stdout, proc.stdout + proc.stderr
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == {"code": 0, "loaded": []}, proc.stderr
    # The manager's unix socket is read with the standard library (runtime.unix_reads): listings,
    # GET /swarm, the image's registry digest, the record; the docker SDK only comes for writes.
    from tests.unit.test_startup import SDK, loaded_by

    drift = loaded_by("drift", str(swarm_stack.file), cwd=swarm_stack.dir, env=env)
    assert drift["code"] == 0 and SDK & set(drift["loaded"]) == set(), drift  # type: ignore[arg-type]
    assert {"pydantic", "pydantic_core"} & set(drift["loaded"]) == set(), drift  # type: ignore[arg-type]
