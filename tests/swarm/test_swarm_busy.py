"""Plan and drift on Swarm while another apply holds the stack's lock (a config on the manager):
they say "apply in progress", as on one host, instead of reporting the services it is updating."""

from __future__ import annotations

import json

from tests.swarm.conftest import BUSYBOX, SwarmStack

APP = f'[containers.w]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "100000"]\nstop_grace_period = "1s"\n'


def hold_lock(stack: SwarmStack) -> None:
    """The lock an apply on another machine takes (runtime/lock.py's labels): its holder cannot be
    checked from here, so it counts as running."""
    labels = {
        "io.hostform.lock": stack.name,
        "io.hostform.lock.host": "deploy-box",
        "io.hostform.lock.pid": "4242",
        "io.hostform.lock.operation": "apply",
        "io.hostform.lock.started": "2026-01-01T00:00:00Z",
        "io.hostform.kind": "lock",
    }
    stack.bed.api().create_config(f"hostform.lock.{stack.name}", b"hostform lock", labels=labels)


def test_plan_and_drift_during_an_apply_on_swarm_say_so(swarm_stack: SwarmStack) -> None:
    swarm_stack.write(APP)
    swarm_stack.apply()
    hold_lock(swarm_stack)

    quiet = swarm_stack.plan()  # nothing to do: the lock is not even read
    assert quiet.code == 0 and "apply in progress" not in quiet.both, quiet.both

    swarm_stack.write(APP + 'env = { V = "2" }\n')
    plan = swarm_stack.plan()
    assert plan.code == 2 and "env.V" in plan.out, plan.both  # the change is still shown
    assert "apply in progress" in plan.out and "deploy-box (pid 4242)" in plan.out, plan.both
    assert "services may be mid-update" in plan.out, plan.both
    as_json = swarm_stack.run("plan", str(swarm_stack.file), "--json")
    assert any("apply in progress" in w for w in json.loads(as_json.out)["warnings"]), as_json.both

    drift = swarm_stack.run("drift", str(swarm_stack.file))
    assert drift.code == 0 and "apply in progress" in drift.out and "drift not checked" in drift.out, drift.both
    drift_json = swarm_stack.run("drift", str(swarm_stack.file), "--json")
    assert drift_json.code == 0 and "apply_in_progress" in json.loads(drift_json.out), drift_json.both

    assert swarm_stack.run("unlock", str(swarm_stack.file), "--force").code == 0
    after = swarm_stack.plan()
    assert after.code == 2 and "apply in progress" not in after.both, after.both
    assert swarm_stack.run("drift", str(swarm_stack.file)).code == 0  # a pending edit is not drift
