"""Plans people can trust: saved plans, renderings, config files, secrets (real engine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import BUSYBOX, StackFixture

SECRET = "s3cr3t-Value-9f8e7d"

WEB = f"""
[vars]
greeting = "hello"

[files.site]
template = "site.conf.j2"

[files.creds]
content = "password={{{{ secret('HF_TEST_PW') }}}}\\n"

[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
env = {{ DB_PASSWORD = "{{{{ secret('HF_TEST_PW') }}}}", MODE = "prod" }}
files = [{{ source = "site", target = "/etc/site.conf" }}, {{ source = "creds", target = "/etc/creds", mode = "0600" }}]

[containers.api]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
"""


def _ids(stack: StackFixture) -> dict[str, str]:
    return {c["Names"][0].lstrip("/"): c["Id"] for c in stack.containers()}


def test_secret_value_appears_only_inside_the_container(stack: StackFixture, tmp_path: Path) -> None:
    stack.env = {"HF_TEST_PW": SECRET}
    stack.write(WEB, **{"site.conf.j2": "greeting={{ vars.greeting }}\n"})
    outputs = [stack.run("plan", str(stack.file)).both]
    outputs.append(stack.run("plan", str(stack.file), "--json").both)
    outputs.append(stack.run("plan", str(stack.file), "--format", "markdown").both)
    planfile = tmp_path / "p.json"
    outputs.append(stack.run("plan", str(stack.file), "--out", str(planfile)).both)
    outputs.append(planfile.read_text())
    outputs.append(stack.run("show", str(planfile), "--format", "json").both)
    outputs.append(stack.run("apply", str(planfile), "--debug").both)
    # rotate the secret: a replacement is planned, and still nothing shows the value
    stack.env = {"HF_TEST_PW": SECRET + "-rotated"}
    rotated = stack.run("plan", str(stack.file), "--detailed-exitcode", "--debug")
    assert rotated.code == 2, rotated.both
    assert "env.DB_PASSWORD" in rotated.out and "(secret)" in rotated.out
    assert "diff hidden" in rotated.out  # the secret file's diff is never shown
    outputs.append(rotated.both)
    outputs.append(stack.run("plan", str(stack.file), "--json").both)
    outputs.append(stack.run("apply", str(stack.file), "--auto-approve", "--json").both)
    outputs.append(stack.run("drift", str(stack.file), "--json").both)
    # an error path with --debug (a traceback) must not carry it either
    outputs.append(
        stack.run("apply", str(stack.file), "--auto-approve", "--debug", "--host", "unix:///nonexistent.sock").both
    )
    for c in stack.containers():
        info = stack.inspect(c["Id"])
        outputs.append(json.dumps(info["Config"]["Labels"]))
        outputs.append(json.dumps(info["HostConfig"]))
    for text in outputs:
        assert SECRET not in text
    web = stack.inspect(f"{stack.name}-web")
    assert f"DB_PASSWORD={SECRET}-rotated" in web["Config"]["Env"]  # where it belongs


def test_template_edit_replaces_only_its_consumers(stack: StackFixture) -> None:
    stack.env = {"HF_TEST_PW": SECRET}
    stack.write(WEB, **{"site.conf.j2": "greeting={{ vars.greeting }}\n"})
    stack.apply()
    before = _ids(stack)
    (stack.dir / "site.conf.j2").write_text("greeting={{ vars.greeting }}!\n")
    plan = stack.plan()
    assert plan.code == 2
    assert "files[/etc/site.conf].sha256" in plan.out
    assert "-greeting=hello" in plan.out and "+greeting=hello!" in plan.out  # a unified diff of the file
    assert "Plan: 0 to add, 1 to replace, 0 to change, 0 to destroy." in plan.out
    stack.apply()
    after = _ids(stack)
    assert after[f"{stack.name}-api"] == before[f"{stack.name}-api"]
    assert after[f"{stack.name}-web"] != before[f"{stack.name}-web"]
    assert stack.plan().code == 0


def test_reload_signal_recopies_without_recreating(stack: StackFixture) -> None:
    body = f"""
[vars]
level = "1"

[files.conf]
content = "level={{{{ vars.level }}}}\\n"
reload_signal = "SIGHUP"

[containers.svc]
image = "{BUSYBOX}"
command = ["sh", "-c", "trap 'echo reloaded; cat /etc/app.conf' HUP; while true; do sleep 0.1; done"]
files = [{{ source = "conf", target = "/etc/app.conf" }}]
stop_signal = "SIGKILL"
"""
    stack.write(body)
    stack.apply()
    ident = _ids(stack)[f"{stack.name}-svc"]
    stack.write(body.replace('level = "1"', 'level = "2"'))
    plan = stack.plan()
    assert plan.code == 2 and "updated in place" in plan.out, plan.out
    stack.apply()
    assert _ids(stack)[f"{stack.name}-svc"] == ident
    import time

    deadline = time.monotonic() + 5
    logs = b""
    while time.monotonic() < deadline and b"level=2" not in logs:
        logs = stack.api.logs(ident)  # type: ignore[attr-defined]
        time.sleep(0.1)
    assert b"reloaded" in logs and b"level=2" in logs
    assert stack.plan().code == 0


def test_saved_plan_applies_exactly_or_is_refused_when_stale(stack: StackFixture, tmp_path: Path) -> None:
    stack.write(f"""
[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
env = {{ V = "1" }}
""")
    stack.apply()
    stack.write(stack.file.read_text().split("[stack]", 1)[1].split("\n", 2)[2].replace('V = "1"', 'V = "2"'))
    planfile = tmp_path / "change.plan.json"
    saved = stack.run("plan", str(stack.file), "--out", str(planfile))
    assert saved.code == 0 and planfile.exists()
    shown = stack.run("show", str(planfile))
    assert "env.V" in shown.out and "will be replaced" in shown.out
    md = stack.run("show", str(planfile), "--format", "markdown")
    assert "<details>" in md.out and "env.V" in md.out
    # someone replaces the container by hand in between: the saved plan is refused, nothing changes
    stack.run("apply", str(stack.file), "--auto-approve", "--replace", "web", check=True)
    ident = _ids(stack)[f"{stack.name}-web"]
    refused = stack.run("apply", str(planfile))
    assert refused.code == 1
    assert "saved plan is stale" in refused.err and f"container {stack.name}-web" in refused.err
    assert _ids(stack)[f"{stack.name}-web"] == ident
    # a fresh saved plan does exactly what it showed
    stack.write(stack.file.read_text().split("[stack]", 1)[1].split("\n", 2)[2].replace('V = "2"', 'V = "3"'))
    stack.run("plan", str(stack.file), "--out", str(planfile), check=True)
    applied = stack.run("apply", str(planfile), check=True)
    assert "Apply complete: 1 action on" in applied.out
    assert stack.plan().code == 0


def test_target_and_replace(stack: StackFixture) -> None:
    stack.write(f"""
[containers.db]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"

[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
depends_on = ["db"]

[containers.other]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
""")
    targeted = stack.run("apply", str(stack.file), "--auto-approve", "--target", "web", check=True)
    assert "containers.other" not in targeted.out
    assert set(_ids(stack)) == {f"{stack.name}-db", f"{stack.name}-web"}
    stack.apply()
    before = _ids(stack)
    forced = stack.run("plan", str(stack.file), "--replace", "db", "--detailed-exitcode")
    assert forced.code == 2 and "replacement forced with --replace" in forced.out
    stack.apply("--replace", "db")
    after = _ids(stack)
    assert after[f"{stack.name}-db"] != before[f"{stack.name}-db"]
    assert after[f"{stack.name}-web"] == before[f"{stack.name}-web"]
    unknown = stack.run("plan", str(stack.file), "--replace", "nope")
    assert unknown.code == 1 and "no container or job 'nope'" in unknown.err


@pytest.mark.parametrize("what", ["var-file", "secret", "source-file", "env-file"])
def test_a_saved_plan_is_refused_when_an_input_changed_but_the_actions_did_not(
    stack: StackFixture, tmp_path: Path, what: str
) -> None:
    body = f"""
[files.page]
source = "page.txt"

[containers.app]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
env = {{ PW = "{{{{ secret('HF_PLAN_PW') }}}}", MSG = "{{{{ vars.msg }}}}" }}
env_file = ["app.env"]
files = [{{ source = "page", target = "/www/index.html" }}]
"""
    stack.write(body)
    (stack.dir / "page.txt").write_text("one\n")
    (stack.dir / "app.env").write_text("A=1\n")
    vars_file = stack.dir / "vars.toml"
    vars_file.write_text('msg = "hi"\n')
    stack.env["HF_PLAN_PW"] = "first-secret"
    stack.apply("--var-file", str(vars_file))
    vars_file.write_text('msg = "hi2"\n')  # a reviewed change: app is replaced
    saved = tmp_path / "p.json"
    planned = stack.run("plan", str(stack.file), "--var-file", str(vars_file), "--out", str(saved))
    assert planned.code == 0 and "will be replaced" in planned.out, planned.both
    assert "first-secret" not in saved.read_text()

    if what == "var-file":
        vars_file.write_text('msg = "unreviewed"\n')
    elif what == "secret":
        stack.env["HF_PLAN_PW"] = "second-secret"
    elif what == "source-file":
        (stack.dir / "page.txt").write_text("two\n")
    else:
        (stack.dir / "app.env").write_text("A=2\n")
    refused = stack.run("apply", str(saved), "--auto-approve")
    assert refused.code == 1 and "saved plan is stale" in refused.both, refused.both
    assert "Traceback" not in refused.both and "second-secret" not in refused.both

    again = tmp_path / "q.json"
    assert stack.run("plan", str(stack.file), "--var-file", str(vars_file), "--out", str(again)).code == 0
    assert stack.run("apply", str(again), "--auto-approve").code == 0


def test_a_plan_that_cannot_be_written_is_one_clear_error(stack: StackFixture, tmp_path: Path) -> None:
    stack.write(f'[containers.app]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "600"]\n')
    for target in (tmp_path / "no" / "such" / "dir.json", tmp_path):
        result = stack.run("plan", str(stack.file), "--out", str(target))
        assert result.code == 1 and "cannot write the plan" in result.err and "Traceback" not in result.both
