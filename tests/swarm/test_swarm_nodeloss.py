"""A node's dockerd dies: Swarm reschedules its tasks, drift names the lost node, and the node
rejoins once its dockerd is back."""

from __future__ import annotations

from tests.swarm.conftest import BUSYBOX, SwarmStack, wait_until


def test_node_loss_is_rescheduled_reported_and_the_node_rejoins(swarm_stack: SwarmStack) -> None:
    swarm_stack.write(
        f'[containers.w]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "100000"]\nstop_grace_period = "1s"\nreplicas = 3\n'
    )
    swarm_stack.apply()
    assert swarm_stack.nodes_of("w") == ["s1", "s2", "s3"]
    bed = swarm_stack.bed
    bed.bed("kill", "s3")
    try:
        wait_until(lambda: bed.node_states()["s3"] == "down", 20, "s3 to be seen down (heartbeat 1s)")
        # rescheduled: restart delay 5s (Swarm's default) after the node is declared down
        wait_until(lambda: swarm_stack.nodes_of("w") in (["s1", "s1", "s2"], ["s1", "s2", "s2"]), 30, "rescheduling")
        drift = swarm_stack.run("drift", str(swarm_stack.file))
        assert drift.code == 2, drift.both
        assert "nodes.s3" in drift.out and "node down" in drift.out
        assert "containers.w" not in drift.out  # the service itself converged again
    finally:
        bed.bed("start", "s3")
    wait_until(lambda: bed.node_states()["s3"] == "ready", 60, "s3 to rejoin")
    drift = swarm_stack.run("drift", str(swarm_stack.file))
    assert drift.code == 0, drift.both
