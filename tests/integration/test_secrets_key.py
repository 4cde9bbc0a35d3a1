"""`secrets = [...]` on one host: the secret's value copied into the container as a file, never
shown; a new value is a replacement whose plan shows keyed digests only; errors name the key."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import BUSYBOX, StackFixture
from tests.integration.test_slice_volumes import exec_in

BODY = f"""
[containers.app]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
user = "1000"
secrets = [{{ source = "HF_DB_PASSWORD", target = "/run/secrets/db_password" }}, "HF_API_TOKEN"]
"""


def test_a_secret_is_copied_in_and_a_new_value_replaces_the_container(stack: StackFixture, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("token-one\n", encoding="utf-8")
    stack.env.update({"HF_DB_PASSWORD": "pw-one-value", "HF_API_TOKEN_FILE": str(token_file)})
    stack.write(BODY)
    applied = stack.apply()
    assert "pw-one-value" not in applied.both
    app = f"{stack.name}-app"
    assert exec_in(stack, app, "cat", "/run/secrets/db_password") == "pw-one-value"
    assert exec_in(stack, app, "cat", "/run/secrets/HF_API_TOKEN") == "token-one"  # the default target
    assert exec_in(stack, app, "ls", "-l", "/run/secrets/db_password").startswith("-r--r--r--")
    labels = stack.inspect(app)["Config"]["Labels"]
    assert not any("pw-one-value" in v for v in labels.values())
    assert stack.plan().code == 0

    stack.env["HF_DB_PASSWORD"] = "pw-two-value"
    plan = stack.plan()
    assert plan.code == 2, plan.both
    assert "files[/run/secrets/db_password]" in plan.out and "pw-" not in plan.both
    stack.apply()
    assert exec_in(stack, app, "cat", "/run/secrets/db_password") == "pw-two-value"
    assert stack.plan().code == 0


def test_an_unset_secret_names_the_key(stack: StackFixture) -> None:
    stack.write(BODY)
    result = stack.plan()
    assert result.code == 1, result.both
    assert "containers.app.secrets[0].source" in result.err and "HF_DB_PASSWORD" in result.err
    assert "Traceback" not in result.both
