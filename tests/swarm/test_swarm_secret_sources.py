"""On Swarm, secrets from the age file and from a command become Swarm secrets like any other:
the task reads the value, a new value in the age file is a new Swarm secret and a rolled
service, and no plan, service spec, secret name, label or record holds a value."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess

import pytest

from tests.swarm.conftest import BUSYBOX, SwarmStack
from tests.swarm.test_swarm_keys import QUICK, exec_in_task


def _encrypt(stack: SwarmStack, plaintext: str) -> None:
    if shutil.which("age") is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set and the age tool is missing: scripts/secrets-deps installs it")
        pytest.skip("the age tool is missing (scripts/secrets-deps installs it)")
    identity = stack.dir.parent / f"{stack.name}-identity.txt"
    if not identity.exists():
        subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
        public = subprocess.run(["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True)
        (stack.dir / ".age-recipients").write_text(public.stdout)
    subprocess.run(
        ["age", "-R", str(stack.dir / ".age-recipients"), "-o", str(stack.dir / "secrets.env.age")],
        input=plaintext.encode(),
        check=True,
    )
    stack.env["HOSTFORM_AGE_IDENTITY_FILE"] = str(identity)


def test_age_and_command_secrets_are_swarm_secrets_rotated_and_never_shown(swarm_stack: SwarmStack) -> None:
    body = (
        'secrets_file = "secrets.env.age"\n\n[secrets.HF_TOKEN]\ncommand = ["sh", "-c", "echo swarm-cmd-value"]\n\n'
        f'[containers.w]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "100000"]\n{QUICK}'
        'env = { TOKEN = "{{ secret(\'HF_TOKEN\') }}" }\n'
        'secrets = [{ source = "HF_AGE_PW", target = "/run/secrets/pw" }]\n'
    )
    swarm_stack.write(body)
    _encrypt(swarm_stack, "HF_AGE_PW=swarm-age-one\n")
    outputs = [swarm_stack.apply()]
    assert exec_in_task(swarm_stack, "w", "cat", "/run/secrets/pw") == "swarm-age-one"
    assert exec_in_task(swarm_stack, "w", "sh", "-c", "echo $TOKEN") == "swarm-cmd-value\n"
    (old,) = swarm_stack.labelled("secret")
    outputs.append(swarm_stack.plan())
    assert outputs[-1].code == 0, outputs[-1].both

    _encrypt(swarm_stack, "HF_AGE_PW=swarm-age-two\n")
    outputs.append(swarm_stack.plan())
    assert outputs[-1].code == 2 and "files[/run/secrets/pw]" in outputs[-1].out, outputs[-1].both
    outputs.append(swarm_stack.apply())
    (new,) = swarm_stack.labelled("secret")  # a new Swarm secret, the old one removed once unused
    assert new["ID"] != old["ID"]
    assert exec_in_task(swarm_stack, "w", "cat", "/run/secrets/pw") == "swarm-age-two"

    records = swarm_stack.records()
    seen = "\n".join(o.both for o in outputs) + json.dumps(swarm_stack.service("w")["Spec"]["Labels"])
    seen += json.dumps([old, new]) + json.dumps(records)
    seen += "".join(base64.b64decode(r["Spec"].get("Data", "")).decode("utf-8", "replace") for r in records)
    assert records
    for value in ("swarm-age-one", "swarm-age-two", "swarm-cmd-value"):
        assert value not in seen
