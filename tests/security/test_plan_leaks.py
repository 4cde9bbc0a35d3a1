"""Leak 4 and engine errors: what a plan shows of a config file or a container that held a secret."""

from __future__ import annotations

import json

from tests.security.conftest import BUSYBOX, Planted, StackFixture, every_output


def _body(content: str) -> str:
    return f"""
[files.conf]
content = "{content}"
reload_signal = "SIGHUP"

[containers.app]
image = "{BUSYBOX}"
command = ["sh", "-c", "trap '' HUP; sleep 600 & wait"]
stop_signal = "SIGKILL"
files = [{{ source = "conf", target = "/etc/app.conf" }}]
"""


def test_a_reloadable_file_that_held_a_secret_shows_no_diff(hostile: StackFixture, planted: Planted) -> None:
    """Leak 4: the secret is gone from the new content, but the live file (last applied) holds it."""
    hostile.write(_body(f"password={{{{ secret('{planted.secret_name}') }}}}\\n"))
    hostile.apply()
    hostile.write(_body("password=none\\n"))
    runs, everything = every_output(hostile)
    planted.assert_absent(everything)
    assert "diff hidden: the file holds a secret" in runs[1].out, runs[1].both
    assert all(r.code == 0 for r in runs), everything
    # and nothing of the secret went into the container's labels or the engine's config of it
    (container,) = hostile.containers()
    config = json.dumps(hostile.inspect(container["Id"])["Config"]["Labels"])
    planted.assert_absent(config)


def test_a_file_that_gains_a_secret_shows_no_diff_either(hostile: StackFixture, planted: Planted) -> None:
    hostile.write(_body("password=none\\n"))
    hostile.apply()
    hostile.write(_body(f"password={{{{ secret('{planted.secret_name}') }}}}\\n"))
    runs, everything = every_output(hostile)
    planted.assert_absent(everything)
    assert "diff hidden" in runs[1].out, runs[1].both


def test_env_secrets_stay_masked_in_plans_labels_and_engine_errors(hostile: StackFixture, planted: Planted) -> None:
    """A secret in env: masked in every plan form, in labels; an engine error quoting the config masked too."""
    body = f"""
[containers.app]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
env = {{ PW = "{{{{ secret('{planted.secret_name}') }}}}" }}
"""
    hostile.write(body)
    runs, everything = every_output(hostile)
    planted.assert_absent(everything)
    assert "PW=(secret)" in runs[1].out, runs[1].out
    hostile.apply()
    (container,) = hostile.containers()
    planted.assert_absent(json.dumps(hostile.inspect(container["Id"])["Config"]["Labels"]))
    # an engine error that quotes the config (an image name that is not a reference)
    hostile.write(body.replace(BUSYBOX, "Bad Image Name"))
    failed = hostile.run("apply", str(hostile.file), "--auto-approve")
    assert failed.code == 1 and "Traceback" not in failed.both
    planted.assert_absent(failed.both)
