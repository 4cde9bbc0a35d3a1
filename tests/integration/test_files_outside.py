"""A config file edited inside its container: plan shows it, apply puts it back, drift agrees."""

from __future__ import annotations

import json
import subprocess

from tests.integration.conftest import BUSYBOX, StackFixture

BODY = f"""
[files.page]
content = "hello\\n"

[files.conf]
content = "a = 1\\n"
reload_signal = "SIGHUP"

[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
files = [{{ source = "page", target = "/www/index.html" }}, {{ source = "conf", target = "/etc/app.conf" }}]
"""


def exec_in(container: str, script: str) -> str:
    done = subprocess.run(["docker", "exec", container, "sh", "-c", script], capture_output=True, text=True, check=True)
    return done.stdout


def test_a_file_edited_inside_the_container_is_planned_and_put_back(stack: StackFixture) -> None:
    stack.write(BODY)
    stack.apply()
    web = f"{stack.name}-web"
    exec_in(web, "echo hacked > /www/index.html")

    plan = stack.plan()
    assert plan.code == 2, plan.both
    assert "files[/www/index.html].sha256" in plan.out and "replaced" in plan.out, plan.out
    assert "/etc/app.conf" not in plan.out, plan.out  # untouched files are not mentioned
    doc = json.loads(stack.run("plan", str(stack.file), "--json").out)
    (change,) = [c for c in doc["resource_changes"] if c["action"] != "no-op" and c["kind"] == "container"]
    assert change["action"] == "replace" and doc["resource_drift"][0]["paths"] == ["files[/www/index.html].sha256"]

    drift = stack.run("drift", str(stack.file), "--json")
    assert drift.code == 2
    (finding,) = json.loads(drift.out)["resources"]
    assert finding["drift"] == "changed" and [f["path"] for f in finding["fields"]] == ["files[/www/index.html].sha256"]

    stack.apply()
    assert exec_in(web, "cat /www/index.html") == "hello\n"
    assert stack.plan().code == 0
    assert stack.run("drift", str(stack.file)).code == 0


def test_a_reloadable_file_edited_inside_is_copied_back_in_place(stack: StackFixture) -> None:
    stack.write(BODY)
    stack.apply()
    web = f"{stack.name}-web"
    before = stack.inspect(web)["Id"]
    exec_in(web, "echo 'a = 2' > /etc/app.conf")
    plan = stack.plan()
    assert plan.code == 2 and "files[/etc/app.conf].sha256" in plan.out and "updated in place" in plan.out, plan.out
    stack.apply()
    assert exec_in(web, "cat /etc/app.conf") == "a = 1\n" and stack.inspect(web)["Id"] == before
    assert stack.plan().code == 0
