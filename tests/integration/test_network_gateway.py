"""A network's gateway is compared: an edited gateway replaces the network (a network cannot
change in place) and the containers on it, and the next plan is empty."""

from __future__ import annotations

import random

from tests.integration.conftest import BUSYBOX, StackFixture


def _body(subnet: str, gateway: str) -> str:
    return f"""
[networks.back]
subnet = "{subnet}"
gateway = "{gateway}"

[containers.web]
image = "{BUSYBOX}"
pull = "never"
command = ["sleep", "3600"]
stop_signal = "SIGKILL"
networks = ["back"]
"""


def test_an_edited_gateway_replaces_the_network(stack: StackFixture) -> None:
    prefix = f"10.{random.randint(64, 250)}.{random.randint(0, 255)}"  # a pool of this test's own
    stack.write(_body(f"{prefix}.0/24", f"{prefix}.1"))
    stack.apply()
    (net,) = stack.api.networks(names=[f"{stack.name}_back"])  # type: ignore[attr-defined]
    assert stack.api.inspect_network(net["Id"])["IPAM"]["Config"][0]["Gateway"] == f"{prefix}.1"  # type: ignore[attr-defined]
    assert stack.plan().code == 0

    stack.write(_body(f"{prefix}.0/24", f"{prefix}.254"))
    planned = stack.plan()
    assert planned.code == 2, planned.both
    assert f'gateway: "{prefix}.1" -> "{prefix}.254"' in planned.out
    assert f"-/+ network {stack.name}_back" in planned.out
    assert f"container {stack.name}-web" in planned.out  # its users go with it

    stack.apply()
    (net,) = stack.api.networks(names=[f"{stack.name}_back"])  # type: ignore[attr-defined]
    assert stack.api.inspect_network(net["Id"])["IPAM"]["Config"][0]["Gateway"] == f"{prefix}.254"  # type: ignore[attr-defined]
    assert stack.plan().code == 0
