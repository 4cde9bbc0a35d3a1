"""Twenty services: a no-op plan is empty; destroy removes services, configs, secrets and
networks, and never a volume."""

from __future__ import annotations

from tests.swarm.conftest import BUSYBOX, SwarmStack, wait_until


def test_noop_plan_on_20_services_then_destroy_keeps_volumes(swarm_stack: SwarmStack) -> None:
    services = "".join(
        f'[containers.s{i:02}]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "100000"]\nstop_grace_period = "1s"\n\n'
        for i in range(19)
    )
    swarm_stack.write(
        '[volumes.data]\n\n[networks.back]\n\n[files.conf]\ncontent = "x=1"\n\n'
        "[files.token]\ncontent = \"{{ secret('TOKEN') }}\"\n\n"
        + services
        + f'[containers.db]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "100000"]\nstop_grace_period = "1s"\n'
        'volumes = ["data:/data"]\nnetworks = ["back"]\n'
        'placement = { constraints = ["node.hostname == s1"] }\n'
        'files = [{ source = "conf", target = "/etc/app.conf" }, { source = "token", target = "/run/secrets/t" }]\n'
    )
    swarm_stack.env["TOKEN"] = "t0k3n"
    applied = swarm_stack.apply()
    assert "Apply complete: 24 actions" in applied.out
    noop = swarm_stack.plan()
    assert noop.code == 0 and "No changes" in noop.out, noop.both
    s1 = swarm_stack.bed.api("s1")
    volume = f"{swarm_stack.name}_data"
    assert s1.inspect_volume(volume)["Labels"]["io.hostform.stack"] == swarm_stack.name
    destroyed = swarm_stack.run("destroy", str(swarm_stack.file), "--auto-approve")
    assert destroyed.code == 0, destroyed.both
    assert "named volumes stay on the nodes" in destroyed.both
    for kind in ("service", "config", "secret", "network"):
        assert not swarm_stack.labelled(kind), kind
    ours = {"label": f"io.hostform.stack={swarm_stack.name}"}
    wait_until(lambda: not s1.containers(all=True, filters=ours), 60, "the tasks' containers to be removed")
    assert s1.inspect_volume(volume)["Name"] == volume  # kept, data and all
    s1.remove_volume(volume)
