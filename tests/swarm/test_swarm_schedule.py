"""Scheduling on the 3-node bed: spread, pins, and impossible requests told, not hung on."""

from __future__ import annotations

import time

from tests.swarm.conftest import BUSYBOX, SwarmStack

SLEEPER = f'image = "{BUSYBOX}"\ncommand = ["sleep", "100000"]\nstop_grace_period = "1s"\n'


def test_replicas_spread_over_three_nodes_and_a_constraint_pins(swarm_stack: SwarmStack) -> None:
    swarm_stack.write(
        f"[containers.web]\n{SLEEPER}replicas = 6\n"
        'reservations = { memory = "16m", cpus = 0.01 }\n'
        'update = { order = "start-first", parallelism = 2, delay = "1s", monitor = "2s", max_failure_ratio = 0.5 }\n'
        'rollback = { order = "start-first", parallelism = 0, failure_action = "continue" }\n'
        'placement = { preferences = [{ spread = "node.labels.name" }], max_replicas_per_node = 2 }\n\n'
        f'[containers.pinned]\n{SLEEPER}placement = {{ constraints = ["node.hostname == s3"] }}\n'
        'endpoint_mode = "dnsrr"\nports = [{ target = 80, published = 18080, mode = "host" }]\n\n'
        f"[containers.agent]\n{SLEEPER}global = true\n"
    )
    swarm_stack.apply()
    assert swarm_stack.nodes_of("web") == ["s1", "s1", "s2", "s2", "s3", "s3"]
    assert swarm_stack.nodes_of("pinned") == ["s3"]
    assert swarm_stack.nodes_of("agent") == ["s1", "s2", "s3"]
    image = swarm_stack.service("web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert image.startswith(f"{BUSYBOX}@sha256:")  # every node runs the same bits
    noop = swarm_stack.plan()
    assert noop.code == 0, noop.both  # Swarm's filled-in defaults never read as changes
    assert "No changes" in noop.out


def test_a_reservation_no_node_can_hold_is_a_plan_error_naming_the_nodes(swarm_stack: SwarmStack) -> None:
    swarm_stack.write(f'[containers.big]\n{SLEEPER}reservations = {{ memory = "4000g" }}\n')
    result = swarm_stack.plan()
    assert result.code == 1
    assert "containers.big: no node has 4000 GiB of memory to reserve: s1 " in result.err
    assert "s2 " in result.err and "s3 " in result.err
    assert not swarm_stack.labelled("service")


def test_a_constraint_no_node_matches_is_a_plan_error(swarm_stack: SwarmStack) -> None:
    swarm_stack.write(f'[containers.lost]\n{SLEEPER}placement = {{ constraints = ["node.labels.zone == mars"] }}\n')
    result = swarm_stack.plan()
    assert result.code == 1
    assert "containers.lost: no node matches the constraints ['node.labels.zone == mars']" in result.err


def test_what_only_the_scheduler_knows_fails_the_apply_with_its_message(swarm_stack: SwarmStack) -> None:
    # engine labels are not in the node list hostform reads: the scheduler says it, within a bounded wait
    swarm_stack.write(f'[containers.nowhere]\n{SLEEPER}placement = {{ constraints = ["engine.labels.gpu == yes"] }}\n')
    t0 = time.monotonic()
    result = swarm_stack.apply(check=False)
    assert result.code == 1, result.both
    assert "containers.nowhere: tasks cannot be scheduled: no suitable node" in result.err
    assert time.monotonic() - t0 < 60
