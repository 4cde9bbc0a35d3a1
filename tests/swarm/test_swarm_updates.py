"""Changes in place on Swarm: scale, config files and secrets (content-addressed), hand updates,
and a rolling update Swarm rolls back while the old version keeps serving."""

from __future__ import annotations

import re

from tests.swarm.conftest import BUSYBOX, BUSYBOX2, GET, SwarmStack, wait_until

POLL = f'while true; do {GET} web 80 | grep -q "200 OK" && echo OK || echo FAIL; sleep 0.2; done'
QUICK = 'update = { monitor = "1s" }\nstop_grace_period = "1s"\n'


def test_scale_3_6_2_in_place(swarm_stack: SwarmStack) -> None:
    body = f'[containers.w]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "100000"]\n{QUICK}replicas = N\n'
    swarm_stack.write(body.replace("N", "3"))
    swarm_stack.apply()
    first = {t["ID"] for t in swarm_stack.tasks("w")}
    assert len(first) == 3
    swarm_stack.write(body.replace("N", "6"))
    plan = swarm_stack.plan()
    assert plan.code == 2 and "scale 3 -> 6 replicas (no task restarted)" in plan.out
    swarm_stack.apply()
    six = {t["ID"] for t in swarm_stack.tasks("w")}
    assert len(six) == 6 and first <= six  # scaled: the first three kept running
    swarm_stack.write(body.replace("N", "2"))
    swarm_stack.apply()
    assert len(swarm_stack.tasks("w")) == 2
    assert swarm_stack.plan().code == 0


def test_a_config_change_rolls_the_service_and_leaves_no_stale_config(swarm_stack: SwarmStack) -> None:
    body = (
        '[files.conf]\ncontent = "VALUE"\n\n'
        f'[containers.w]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "100000"]\n{QUICK}replicas = 2\n'
        'files = [{ source = "conf", target = "/etc/app.conf" }]\n'
    )
    swarm_stack.write(body.replace("VALUE", "version one"))
    swarm_stack.apply()
    (old,) = swarm_stack.labelled("config")
    before = {t["ID"] for t in swarm_stack.tasks("w")}
    swarm_stack.write(body.replace("VALUE", "version two"))
    plan = swarm_stack.plan()
    assert "files[/etc/app.conf]" in plan.out and "rolling update" in plan.out
    swarm_stack.apply()
    (new,) = swarm_stack.labelled("config")  # the old one is gone
    assert new["ID"] != old["ID"]
    after = {t["ID"] for t in swarm_stack.tasks("w")}
    assert len(after) == 2 and not before & after  # every task replaced
    refs = swarm_stack.service("w")["Spec"]["TaskTemplate"]["ContainerSpec"]["Configs"]
    assert [r["ConfigName"] for r in refs] == [new["Spec"]["Name"]]


def test_secret_rotation_makes_a_new_swarm_secret_and_removes_the_old(swarm_stack: SwarmStack) -> None:
    swarm_stack.write(
        "[files.token]\ncontent = \"{{ secret('TOKEN') }}\"\n\n"
        f'[containers.w]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "100000"]\n{QUICK}'
        'files = [{ source = "token", target = "/run/secrets/token" }]\n'
    )
    swarm_stack.env["TOKEN"] = "first-value"
    swarm_stack.apply()
    (old,) = swarm_stack.labelled("secret")
    assert not swarm_stack.labelled("config")
    swarm_stack.env["TOKEN"] = "second-value"
    plan = swarm_stack.plan()
    assert plan.code == 2 and "first-value" not in plan.both and "second-value" not in plan.both
    swarm_stack.apply()
    (new,) = swarm_stack.labelled("secret")
    assert new["ID"] != old["ID"]
    refs = swarm_stack.service("w")["Spec"]["TaskTemplate"]["ContainerSpec"]["Secrets"]
    assert [(r["SecretName"], r["File"]["Name"]) for r in refs] == [(new["Spec"]["Name"], "/run/secrets/token")]
    assert swarm_stack.plan().code == 0


def test_a_hand_update_is_drift_and_fix_sets_it_back(swarm_stack: SwarmStack) -> None:
    swarm_stack.write(f'[containers.w]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "100000"]\n{QUICK}replicas = 2\n')
    swarm_stack.apply()
    swarm_stack.scale_by_hand("w", 3)  # `docker service scale` by hand
    drift = swarm_stack.run("drift", str(swarm_stack.file))
    assert drift.code == 2, drift.both
    assert "changed" in drift.out and "updated outside" in drift.out
    fixed = swarm_stack.run("drift", str(swarm_stack.file), "--fix", "--auto-approve")
    assert fixed.code == 0, fixed.both
    assert swarm_stack.service("w")["Spec"]["Mode"]["Replicated"]["Replicas"] == 2


def test_a_failing_update_rolls_back_exit_1_and_the_old_version_keeps_serving(swarm_stack: SwarmStack) -> None:
    # busybox:2 holds /VERSION: the healthcheck fails there only
    body = f"""
[containers.web]
image = "{{image}}"
command = ["sh", "-c", "mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 80 -h /www"]
replicas = 2
endpoint_mode = "dnsrr"
stop_grace_period = "1s"
healthcheck = {{{{ test = "test ! -f /VERSION", interval = "1s", timeout = "1s", retries = 1 }}}}
update = {{{{ order = "start-first", monitor = "4s", failure_action = "rollback" }}}}
rollback = {{{{ order = "start-first", monitor = "1s" }}}}

[containers.poller]
image = "{BUSYBOX}"
command = ['sh', '-c', '{POLL}']
stop_grace_period = "1s"
placement = {{{{ constraints = ["node.hostname == s1"] }}}}
"""
    swarm_stack.write(body.format(image=BUSYBOX))
    swarm_stack.apply()
    s1 = swarm_stack.bed.api("s1")
    (poller,) = s1.containers(filters={"label": f"com.docker.swarm.service.name={swarm_stack.name}_poller"})
    wait_until(lambda: s1.logs(poller["Id"]).endswith(b"OK\nOK\n"), 30, "the poller's first answers")
    start = len(s1.logs(poller["Id"]))  # from here on, every request must succeed
    swarm_stack.write(body.format(image=BUSYBOX2))
    result = swarm_stack.apply(check=False)
    assert result.code == 1, result.both
    assert "containers.web: Swarm rolled the update back" in result.err
    assert "task error:" in result.err
    # Swarm's task status holds no health output: the message says where it is, and it is there
    hint = re.search(
        r"healthcheck 'test ! -f /VERSION' failing; .* on node (s\d) \(docker inspect .* (\w{12})\)", result.err
    )
    assert hint, result.err
    health = swarm_stack.bed.api(hint.group(1)).inspect_container(hint.group(2))["State"]["Health"]
    assert health["Status"] == "unhealthy" and health["Log"], health
    svc = swarm_stack.service("web")
    assert svc["UpdateStatus"]["State"] == "rollback_completed"
    assert svc["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].startswith(BUSYBOX + "@")
    log = s1.logs(poller["Id"])[start:].decode()
    assert log.count("OK") > 10 and "FAIL" not in log  # the old version served throughout
    drift = swarm_stack.run("drift", str(swarm_stack.file))
    assert drift.code == 2 and "rolled back" in drift.out
