"""The smaller holes: hostform's own objects, a plan or drift during an apply, a bad engine
address, unlock and drift without secret values."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

from tests.integration.conftest import REPO, remove_stack_objects
from tests.security.conftest import BUSYBOX, Planted, StackFixture, assert_clean_error, run_cli

APP = f'[containers.app]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "600"]\nstop_signal = "SIGKILL"\n'


def test_no_declared_name_can_take_the_lock(stack: StackFixture, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    """Stack 'lk-' with a container 'hostform-lock' made 'lk--hostform-lock', the lock of stack 'lk'."""
    victim = f"lk{uuid.uuid4().hex[:6]}"
    squatter = tmp_path_factory.mktemp("squat") / "hostform.toml"
    squatter.write_text(
        f'[stack]\nname = "{victim}-"\n\n[containers.hostform-lock]\nimage = "{BUSYBOX}"\n'
        'command = ["sleep", "600"]\nstop_signal = "SIGKILL"\n'
    )
    try:
        assert run_cli("apply", str(squatter), "--auto-approve").code == 0
        stack.file.write_text(f'[stack]\nname = "{victim}"\n\n' + APP)
        assert stack.apply().code == 0
        assert stack.run("unlock", str(stack.file)).code == 0
        assert stack.run("destroy", str(stack.file), "--auto-approve").code == 0
    finally:
        remove_stack_objects(stack.api, f"{victim}-")
        remove_stack_objects(stack.api, victim)


def test_plan_and_drift_during_an_apply_say_so(stack: StackFixture) -> None:
    stack.write(APP)
    stack.apply()
    # a slow replacement: the new container must be healthy, which takes a while
    stack.write(
        APP + 'env = { V = "2" }\nupdate = { order = "start-first" }\n'
        'healthcheck = { test = "sleep 20", interval = "1s", retries = 30, timeout = "60s" }\n'
    )
    applying = subprocess.Popen(
        [sys.executable, "-m", "hostform.plans.cli", "apply", str(stack.file), "--auto-approve"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("--new-" in n for c in stack.containers() for n in c["Names"]):
            time.sleep(0.2)
        assert any("--new-" in n for c in stack.containers() for n in c["Names"]), "no temporary container seen"
        plan = stack.run("plan", str(stack.file))
        assert plan.code == 0, plan.both
        assert "apply in progress" in plan.out and "interrupted apply" not in plan.out, plan.out
        drift = stack.run("drift", str(stack.file))
        assert drift.code == 0 and "apply in progress" in drift.out, drift.both
        as_json = stack.run("drift", str(stack.file), "--json")
        assert as_json.code == 0 and "apply_in_progress" in json.loads(as_json.out), as_json.both
    finally:
        out, err = applying.communicate(timeout=180)
    assert applying.returncode == 0, out + err


def test_a_bad_engine_address_is_one_error(stack: StackFixture) -> None:
    stack.write(APP)
    for address in ("http://[bad", "tcp://[::1"):
        result = stack.run("plan", str(stack.file), "-H", address)
        assert_clean_error(result)


def test_unlock_and_drift_need_no_secret_values(hostile: StackFixture, planted: Planted) -> None:
    hostile.write(APP + f"env = {{ PW = \"{{{{ secret('{planted.secret_name}') }}}}\" }}\n")
    hostile.apply()
    del hostile.env[planted.secret_name]
    hostile.env[planted.secret_name + "_FILE"] = ""
    unlocked = hostile.run("unlock", str(hostile.file))
    assert unlocked.code == 0 and "is not locked" in unlocked.out, unlocked.both


def test_drift_compares_keyed_hashes_without_the_secret_values(hostile: StackFixture, planted: Planted) -> None:
    """The cron template sets no secrets: drift takes an unset secret for the one last applied."""
    body = APP + f'env = {{ PW = "{{{{ secret(\'{planted.secret_name}\') }}}}", MODE = "a" }}\n'
    body += 'files = [{ source = "conf", target = "/etc/app.conf" }]\n'
    conf = f"[files.conf]\ncontent = \"pw={{{{ secret('{planted.secret_name}') }}}}\\n\"\n\n"
    hostile.write(conf + body)
    hostile.apply()
    del hostile.env[planted.secret_name]
    in_sync = hostile.run("drift", str(hostile.file), "--json")
    assert in_sync.code == 0, in_sync.both
    assert json.loads(in_sync.out)["in_sync"] is True
    assert hostile.run("drift", str(hostile.file), "--include-pending").code == 0
    # a real change is still seen, and a fix (which applies) still needs the secret
    hostile.write(conf + body.replace('MODE = "a"', 'MODE = "b"'))
    pending = hostile.run("drift", str(hostile.file), "--include-pending")
    assert pending.code == 2 and "MODE" in pending.out, pending.both
    assert_clean_error(hostile.run("drift", str(hostile.file), "--fix", "--auto-approve"), planted.secret_name)
    planted.assert_absent(in_sync.both, pending.both)
