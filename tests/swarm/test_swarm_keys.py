"""The keys Swarm carries beyond one host's: `secrets` as Swarm secrets, `build` pushed to the
registry and run by digest, and overlay network settings compared after creation."""

from __future__ import annotations

from typing import Any

from tests.swarm.conftest import BUSYBOX, SwarmStack

QUICK = 'update = { monitor = "1s" }\nstop_grace_period = "1s"\n'


def exec_in_task(stack: SwarmStack, service: str, *cmd: str) -> str:
    """Run a command in one running task's container, on whichever node runs it."""
    task = stack.tasks(service)[0]
    hostname = {n["ID"]: n["Description"]["Hostname"] for n in stack.bed.api().nodes()}[task["NodeID"]]
    api: Any = stack.bed.api(hostname)
    ex = api.exec_create(task["Status"]["ContainerStatus"]["ContainerID"], list(cmd))
    out: bytes = api.exec_start(ex["Id"])
    assert api.exec_inspect(ex["Id"])["ExitCode"] == 0, out
    return out.decode()


def test_the_secrets_key_is_a_swarm_secret_rotated_and_never_shown(swarm_stack: SwarmStack) -> None:
    swarm_stack.write(
        f'[containers.w]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "100000"]\n{QUICK}replicas = 2\n'
        'secrets = [{ source = "HF_DB_PASSWORD", target = "/run/secrets/db_password" }]\n'
    )
    swarm_stack.env["HF_DB_PASSWORD"] = "swarm-pw-one"
    plan = swarm_stack.plan()
    assert plan.code == 2 and "files.secret.HF_DB_PASSWORD" in plan.out, plan.both
    swarm_stack.apply()
    (old,) = swarm_stack.labelled("secret")
    assert old["Spec"]["Name"].startswith(f"{swarm_stack.name}_secret.HF_DB_PASSWORD-")
    assert exec_in_task(swarm_stack, "w", "cat", "/run/secrets/db_password") == "swarm-pw-one"
    assert "swarm-pw-one" not in str(swarm_stack.service("w")["Spec"])
    assert swarm_stack.plan().code == 0

    swarm_stack.env["HF_DB_PASSWORD"] = "swarm-pw-two"
    plan = swarm_stack.plan()
    assert plan.code == 2 and "files[/run/secrets/db_password]" in plan.out, plan.both
    assert "swarm-pw" not in plan.both
    applied = swarm_stack.apply()
    assert "swarm-pw" not in applied.both
    (new,) = swarm_stack.labelled("secret")  # the old one removed once unused
    assert new["ID"] != old["ID"]
    assert exec_in_task(swarm_stack, "w", "cat", "/run/secrets/db_password") == "swarm-pw-two"
    assert swarm_stack.plan().code == 0
