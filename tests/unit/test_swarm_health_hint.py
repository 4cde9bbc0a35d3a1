"""A rollback for an unhealthy container says where the health output is: Swarm's task status
carries only "unhealthy container", the health log stays with the container on its node."""

from __future__ import annotations

from hostform.declare.schema import Healthcheck
from hostform.declare.spec import plain_of
from hostform.plans.swarm_apply import health_hint
from hostform.runtime.swarm import SwarmTask


def task(container_id: str = "4f902125955ab36a6944") -> SwarmTask:
    return SwarmTask(
        "t1", "s1", 1, "n2", "failed", "shutdown", "dockerexec: unhealthy container", "", "", 0.0, "", container_id
    )


def test_the_hint_names_the_test_the_node_and_the_container() -> None:
    hint = health_hint(plain_of(Healthcheck(test="test ! -f /VERSION", retries=1)), task(), "s2")
    assert hint == (
        "; healthcheck 'test ! -f /VERSION' failing; Swarm keeps no health output: it stays with the container "
        "on node s2 (docker inspect --format '{{json .State.Health.Log}}' 4f902125955a)"
    )


def test_an_image_healthcheck_and_an_unknown_container_still_say_where_to_look() -> None:
    hint = health_hint(None, task(""), "s3")
    assert hint == "; healthcheck failing; Swarm keeps no health output: it stays with the container on node s3"
