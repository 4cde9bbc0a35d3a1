"""Secrets from where teams keep them, on a real engine: a file encrypted with Debian's `age`
tool (decrypted by hostform through pyrage), a command's output, a file in the stack's folder.
The container gets each value; no output, label, record or saved plan holds one."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess

import pytest

from tests.integration.conftest import BUSYBOX, StackFixture
from tests.integration.test_slice_volumes import exec_in

AGE_VALUE = "age-held-Xq81-value"
FILE_VALUE = "file-held-Kp22-value"
COMMAND_VALUE = "command-held-Zt93-value"
VALUES = (AGE_VALUE, FILE_VALUE, COMMAND_VALUE)

BODY = f"""\
secrets_file = "secrets.env.age"

[secrets.API_TOKEN]
command = ["./read-token"]

[secrets.DB_PASSWORD]
file = "db/password.txt"

[containers.app]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
env = {{ FROM_AGE = "{{{{ secret('HF_AGE_PW') }}}}", FROM_COMMAND = "{{{{ secret('API_TOKEN') }}}}" }}
secrets = ["DB_PASSWORD", {{ source = "HF_AGE_PW", target = "/run/secrets/age_pw" }}]
"""


def _age_tool() -> str:
    found = shutil.which("age")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set and the age tool is missing: scripts/secrets-deps installs it")
        pytest.skip("the age tool is missing (scripts/secrets-deps installs it)")
    return found


def _encrypt_with_age(stack: StackFixture, plaintext: str) -> None:
    """The key made by age-keygen, the file encrypted by age to the recipients file beside it."""
    _age_tool()
    keys = stack.dir.parent / f"{stack.name}-keys"
    keys.mkdir(exist_ok=True)
    identity = keys / "identity.txt"
    if not identity.exists():
        subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
        public = subprocess.run(["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True)
        (stack.dir / ".age-recipients").write_text(f"# who can read secrets.env.age\n{public.stdout}")
    subprocess.run(
        ["age", "-R", str(stack.dir / ".age-recipients"), "-o", str(stack.dir / "secrets.env.age")],
        input=plaintext.encode(),
        check=True,
        capture_output=True,
    )
    stack.env["HOSTFORM_AGE_IDENTITY_FILE"] = str(identity)


def _write_sources(stack: StackFixture, command_value: str = COMMAND_VALUE) -> None:
    stack.write(BODY, **{"db__password.txt": f"{FILE_VALUE}\n"})
    script = stack.dir / "read-token"
    script.write_text(f"#!/bin/sh\necho 'not this {command_value}' >&2\nprintf '%s\\n' '{command_value}'\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def test_values_from_every_source_reach_the_container_and_nothing_else(stack: StackFixture) -> None:
    _write_sources(stack)
    _encrypt_with_age(stack, f"# the team's secrets\nHF_AGE_PW={AGE_VALUE}\nUNUSED=whatever\n")
    outputs = [stack.run("validate", str(stack.file), check=True)]
    planfile = stack.dir.parent / f"{stack.name}.plan.json"
    outputs.append(stack.run("plan", str(stack.file), "--out", str(planfile), check=True))
    outputs.append(stack.run("plan", str(stack.file), "--format", "markdown", check=True))
    outputs.append(stack.run("apply", str(planfile), "--auto-approve", check=True))
    outputs.append(stack.plan("--json"))
    assert outputs[-1].code == 0, outputs[-1].both  # converged: the same values hash the same
    outputs.append(stack.run("drift", str(stack.file), "--json"))
    assert outputs[-1].code == 0, outputs[-1].both
    outputs.append(stack.run("history", str(stack.file), "--json", "--show", "1", check=True))

    app = f"{stack.name}-app"
    assert exec_in(stack, app, "sh", "-c", "echo $FROM_AGE") == f"{AGE_VALUE}\n"
    assert exec_in(stack, app, "sh", "-c", "echo $FROM_COMMAND") == f"{COMMAND_VALUE}\n"
    assert exec_in(stack, app, "cat", "/run/secrets/DB_PASSWORD") == FILE_VALUE
    assert exec_in(stack, app, "cat", "/run/secrets/age_pw") == AGE_VALUE

    seen = "\n".join(o.both for o in outputs) + planfile.read_text()
    labels = [c.get("Labels") or {} for c in stack.containers()]
    records = stack.record_volumes()  # the record: generations, lock and key, labels included
    assert records, "apply leaves a record"
    seen += json.dumps(labels) + json.dumps(records)
    for value in VALUES:
        assert value not in seen
    assert "hmac-sha256:" in json.dumps(labels)  # keyed digests stand for them in the last-applied spec


def test_a_new_value_in_the_age_file_replaces_the_container(stack: StackFixture) -> None:
    _write_sources(stack)
    _encrypt_with_age(stack, f"HF_AGE_PW={AGE_VALUE}\n")
    stack.apply()
    _encrypt_with_age(stack, "HF_AGE_PW=rotated-age-value\n")
    plan = stack.plan()
    assert plan.code == 2 and "rotated-age-value" not in plan.both and AGE_VALUE not in plan.both, plan.both
    stack.apply()
    assert exec_in(stack, f"{stack.name}-app", "cat", "/run/secrets/age_pw") == "rotated-age-value"


def test_validate_needs_no_value_and_plan_names_the_sources_tried(stack: StackFixture) -> None:
    _write_sources(stack)
    _encrypt_with_age(stack, "SOMETHING_ELSE=x\n")
    stack.env["HOSTFORM_AGE_IDENTITY_FILE"] = str(stack.dir / "no-such-identity")
    (stack.dir / "read-token").unlink()  # nothing runs under validate: a missing command is fine
    valid = stack.run("validate", str(stack.file))
    assert valid.code == 0, valid.both
    _encrypt_with_age(stack, "SOMETHING_ELSE=x\n")
    plan = stack.plan()
    assert plan.code == 1
    assert (
        "secret 'HF_AGE_PW' is not set: not in secrets.env.age, no [secrets.HF_AGE_PW], "
        "nor HF_AGE_PW or HF_AGE_PW_FILE in the environment" in plan.err
    ), plan.err
    assert "cannot run './read-token'" in plan.err and "Traceback" not in plan.both


def test_untrusted_refuses_a_command_source(stack: StackFixture) -> None:
    _write_sources(stack)
    _encrypt_with_age(stack, f"HF_AGE_PW={AGE_VALUE}\n")
    marker = stack.dir / "ran"
    (stack.dir / "read-token").write_text(f"#!/bin/sh\ntouch {marker}\necho x\n")
    for command in ("validate", "plan"):
        refused = stack.run(command, str(stack.file), "--untrusted")
        assert refused.code == 1, refused.both
        assert "secrets.API_TOKEN.command" in refused.err and "refused under --untrusted" in refused.err
    assert not marker.exists()
    assert stack.containers() == []


def test_two_sources_for_one_name_is_an_error_naming_both(stack: StackFixture) -> None:
    _write_sources(stack)
    _encrypt_with_age(stack, f"HF_AGE_PW={AGE_VALUE}\nDB_PASSWORD=also-here\n")
    plan = stack.plan()
    assert plan.code == 1
    assert "secret 'DB_PASSWORD' is given twice: by secrets.env.age and by [secrets.DB_PASSWORD] file" in plan.err
    assert "also-here" not in plan.both and FILE_VALUE not in plan.both
