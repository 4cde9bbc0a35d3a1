"""The keys Swarm carries beyond one host's: `secrets` as Swarm secrets, `build` pushed to the
registry and run by digest, and overlay network settings compared after creation."""

from __future__ import annotations

import json
from typing import Any

from tests.swarm.conftest import BUSYBOX, REGISTRY, SwarmStack

QUICK = 'update = { monitor = "1s" }\nstop_grace_period = "1s"\n'


def exec_in_task(stack: SwarmStack, service: str, *cmd: str) -> str:
    """Run a command in one running task's container, on whichever node runs it."""
    return exec_in(stack, stack.tasks(service)[0], *cmd)


def exec_in(stack: SwarmStack, task: dict[str, Any], *cmd: str) -> str:
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


def test_a_built_image_is_pushed_and_every_node_runs_it_by_digest(swarm_stack: SwarmStack) -> None:
    app = swarm_stack.dir / "app"
    app.mkdir()
    (app / "Dockerfile").write_text(
        f"FROM {BUSYBOX}\nCOPY index.html /www/index.html\nLABEL org.example.app=web\n", encoding="utf-8"
    )
    (app / "index.html").write_text("version one\n", encoding="utf-8")
    swarm_stack.write(
        f'[containers.web]\nimage = "{REGISTRY}/{swarm_stack.name}/web"\nbuild = "./app"\nglobal = true\n'
        f'command = ["sleep", "100000"]\n{QUICK}'
    )
    plan = swarm_stack.plan()
    assert plan.code == 2 and "images." in plan.out and f"pushed to {REGISTRY}" in plan.out, plan.both
    swarm_stack.apply()
    image = swarm_stack.service("web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert image.startswith(f"{REGISTRY}/{swarm_stack.name}/web:ctx-") and "@sha256:" in image
    assert sorted(swarm_stack.nodes_of("web")) == ["s1", "s2", "s3"]
    for task in swarm_stack.tasks("web"):
        assert exec_in(swarm_stack, task, "cat", "/www/index.html") == "version one\n"
    assert swarm_stack.plan().code == 0  # unchanged context: nothing to build, nothing to update

    (app / "index.html").write_text("version two\n", encoding="utf-8")
    plan = swarm_stack.plan()
    assert plan.code == 2 and "build context changed: index.html" in plan.out, plan.both
    swarm_stack.apply()
    rolled = swarm_stack.service("web")["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert rolled != image and "@sha256:" in rolled
    tasks = swarm_stack.tasks("web")
    assert len(tasks) == 3 and all(t["Spec"]["ContainerSpec"]["Image"] == rolled for t in tasks)
    for task in tasks:
        assert exec_in(swarm_stack, task, "cat", "/www/index.html") == "version two\n"
    assert swarm_stack.plan().code == 0


def test_a_built_image_with_no_registry_is_a_plan_error_naming_the_key(swarm_stack: SwarmStack) -> None:
    (swarm_stack.dir / "app").mkdir()
    (swarm_stack.dir / "app" / "Dockerfile").write_text(f"FROM {BUSYBOX}\n", encoding="utf-8")
    swarm_stack.write('[containers.web]\nimage = "shop/web"\nbuild = "./app"\n')
    plan = swarm_stack.plan()
    assert plan.code == 1 and "containers.web.image" in plan.err and "[stack] registry" in plan.err, plan.both
    assert "Traceback" not in plan.both


def test_a_failed_build_touches_nothing_on_the_swarm(swarm_stack: SwarmStack) -> None:
    (swarm_stack.dir / "app").mkdir()
    (swarm_stack.dir / "app" / "Dockerfile").write_text(f"FROM {BUSYBOX}\nCOPY missing.txt /x\n", encoding="utf-8")
    swarm_stack.write(f'[containers.web]\nimage = "{REGISTRY}/{swarm_stack.name}/web"\nbuild = "./app"\n')
    applied = swarm_stack.apply(check=False)
    assert applied.code == 1 and "missing.txt" in applied.both, applied.both
    assert not swarm_stack.labelled("service") and not swarm_stack.labelled("network")


def test_a_changed_network_setting_replaces_the_overlay_and_its_services_join_the_new_one(
    swarm_stack: SwarmStack,
) -> None:
    body = (
        '[networks.back]\nlabels = { tier = "TIER" }\nINTERNAL\n'
        f'[containers.w]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "100000"]\n{QUICK}replicas = 2\n'
        'networks = ["back"]\n'
        f'[jobs.j]\nimage = "{BUSYBOX}"\ncommand = ["true"]\nnetworks = ["back"]\n'
    )
    swarm_stack.write(body.replace("TIER", "a").replace("INTERNAL", ""))
    swarm_stack.apply()
    (old,) = [n for n in swarm_stack.labelled("network") if n["Name"] == f"{swarm_stack.name}_back"]
    assert swarm_stack.plan().code == 0  # what Swarm fills in (vxlan ids, IPAM) is no change

    swarm_stack.write(body.replace("TIER", "b").replace("INTERNAL", "internal = true"))
    plan = swarm_stack.plan()
    assert plan.code == 2, plan.both
    assert "networks.back" in plan.out and "labels" in plan.out and "internal" in plan.out, plan.out
    assert "network 'back' is replaced" in plan.out, plan.out
    swarm_stack.apply()
    (new,) = [n for n in swarm_stack.labelled("network") if n["Name"] == f"{swarm_stack.name}_back"]
    assert new["Id"] != old["Id"] and new["Internal"] and new["Labels"]["tier"] == "b"
    targets = [n["Target"] for n in swarm_stack.service("w")["Spec"]["TaskTemplate"]["Networks"]]
    assert targets == [new["Id"]]
    job = swarm_stack.service("j")["Spec"]["TaskTemplate"]["Networks"]  # removed with the old one, made anew
    assert [n["Target"] for n in job] == [new["Id"]]
    assert len(swarm_stack.tasks("w")) == 2
    assert swarm_stack.plan().code == 0


def test_drift_needs_no_secret_values_and_names_the_ones_it_could_not_compare(swarm_stack: SwarmStack) -> None:
    """A cron job without the production secrets: a secret() env value, a file holding a secret
    and a `secrets` entry each stand for the value last applied; everything else is compared."""
    body = (
        "[files.token]\ncontent = \"{{ secret('HF_TOKEN') }}\"\n\n"
        f'[containers.w]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "100000"]\n{QUICK}'
        'env = { API_KEY = "{{ secret(\'HF_API_KEY\') }}", MODE = "a" }\n'
        'files = [{ source = "token", target = "/run/secrets/token" }]\n'
        'secrets = [{ source = "HF_DB_PASSWORD", target = "/run/secrets/db_password" }]\n'
    )
    swarm_stack.write(body)
    values = {"HF_TOKEN": "tok-one", "HF_API_KEY": "key-one", "HF_DB_PASSWORD": "pw-one"}
    swarm_stack.env.update(values)
    swarm_stack.apply()
    secrets_before = {s["ID"] for s in swarm_stack.labelled("secret")}
    assert len(secrets_before) == 2
    for name in values:
        del swarm_stack.env[name]

    drift = swarm_stack.run("drift", str(swarm_stack.file))
    assert drift.code == 0 and "No drift" in drift.out, drift.both
    assert "pending" not in drift.out, drift.both  # no secret read as changed, no Swarm secret as new
    assert "Not compared: a new value of HF_API_KEY, HF_DB_PASSWORD, HF_TOKEN" in drift.out, drift.both
    as_json = json.loads(swarm_stack.run("drift", str(swarm_stack.file), "--json", "--include-pending").out)
    assert as_json["in_sync"] and as_json["pending_count"] == 0, as_json
    assert as_json["unset_secrets"] == ["HF_API_KEY", "HF_DB_PASSWORD", "HF_TOKEN"]
    assert not any(v in json.dumps(as_json) + drift.both for v in values.values())

    # a pending edit of a plain value and a hand change are still seen without the secrets
    swarm_stack.write(body.replace('MODE = "a"', 'MODE = "b"'))
    pending = swarm_stack.run("drift", str(swarm_stack.file), "--json")
    report = json.loads(pending.out)
    assert pending.code == 0 and report["pending_count"] == 1, pending.both
    (finding,) = report["resources"]
    assert finding["drift"] == "pending" and "env.MODE" in finding["detail"], finding
    assert "API_KEY" not in finding["detail"] and "files[" not in finding["detail"], finding
    swarm_stack.scale_by_hand("w", 2)  # `docker service scale` by hand
    changed = swarm_stack.run("drift", str(swarm_stack.file))
    assert changed.code == 2 and "updated outside" in changed.out, changed.both

    # what applies still needs every secret: plan, apply, drift --fix
    for args in (("plan",), ("apply", "--auto-approve"), ("drift", "--fix", "--auto-approve")):
        refused = swarm_stack.run(args[0], str(swarm_stack.file), *args[1:])
        assert refused.code == 1 and "is not set" in refused.err and "Traceback" not in refused.both, refused.both
    assert {s["ID"] for s in swarm_stack.labelled("secret")} == secrets_before  # nothing made or removed
