"""Service discovery by name over an overlay network, across nodes; a job runs to completion first."""

from __future__ import annotations

from tests.swarm.conftest import BUSYBOX, GET, SwarmStack

PROBE = f"for i in 1 2 3 4 5 6 7 8 9 10; do {GET} db 80 | grep db-says-hi && exit 0; sleep 1; done; exit 1"


def test_a_job_on_one_node_reaches_a_service_on_another_by_name(swarm_stack: SwarmStack) -> None:
    swarm_stack.write(
        f"""
[networks.back]

[containers.db]
image = "{BUSYBOX}"
command = ["sh", "-c", "mkdir -p /www && echo db-says-hi > /www/index.html && exec httpd -f -p 80 -h /www"]
stop_grace_period = "1s"
endpoint_mode = "dnsrr"
networks = ["back"]
placement = {{ constraints = ["node.hostname == s2"] }}

[jobs.probe]
image = "{BUSYBOX}"
command = ['sh', '-c', '{PROBE}']
networks = ["back"]
placement = {{ constraints = ["node.hostname == s3"] }}
depends_on = ["db"]
"""
    )
    result = swarm_stack.apply()
    assert "jobs.probe: create finished" in result.out
    nets = swarm_stack.labelled("network")
    back = next(n for n in nets if n["Name"] == f"{swarm_stack.name}_back")
    assert back["Driver"] == "overlay"
    assert swarm_stack.bed.api().inspect_network(back["Id"])["Attachable"]
    assert swarm_stack.plan().code == 0  # the job does not run again while its spec is unchanged
