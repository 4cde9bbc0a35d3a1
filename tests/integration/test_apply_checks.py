"""What apply checks so that 'Apply complete' means it: containers that die at once, images first,
dependencies that can never be healthy, Ctrl-C during a wait."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

from tests.integration.conftest import BUSYBOX, REPO, StackFixture

SLEEPER = f"""
[containers.app]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
"""


def test_a_new_container_that_dies_at_once_fails_the_apply(stack: StackFixture) -> None:
    stack.write(
        SLEEPER
        + f"""
[containers.bad]
image = "{BUSYBOX}"
command = ["sh", "-c", "echo boom; exit 7"]

[containers.loop]
image = "{BUSYBOX}"
command = ["sh", "-c", "echo again; exit 3"]
restart = "always"
"""
    )
    result = stack.apply(check=False)
    assert result.code == 1, result.both
    assert "exited with code 7 right after it started" in result.both and "boom" in result.both, result.both
    assert "restart loop" in result.both and "again" in result.both, result.both
    assert "Apply complete" not in result.both and "Traceback" not in result.both
    assert stack.inspect(f"{stack.name}-app")["State"]["Running"]  # the healthy one stays

    stack.write(SLEEPER)  # fixed by removing them: converges
    stack.apply()
    assert stack.plan().code == 0


def test_a_command_that_exits_0_is_told_to_be_a_job(stack: StackFixture) -> None:
    stack.write(f'[containers.once]\nimage = "{BUSYBOX}"\ncommand = ["true"]\n')
    result = stack.apply(check=False)
    assert result.code == 1 and "exited with code 0" in result.both and "[jobs]" in result.both, result.both
    as_json = stack.apply("--json", check=False)  # the event stream ends with a summary, failed or not
    assert as_json.code == 1
    assert json.loads(as_json.out.strip().splitlines()[-1]) == {
        "event": "incomplete",
        "done": 0,
        "failed": 1,
        "not_done": 0,
    }


def test_healthy_on_a_container_without_healthcheck_fails_fast(stack: StackFixture) -> None:
    stack.write(
        SLEEPER
        + f"""
[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
depends_on = {{ app = "healthy" }}
"""
    )
    started = time.monotonic()
    result = stack.apply(check=False)
    assert result.code == 1 and "has no healthcheck" in result.both, result.both
    assert time.monotonic() - started < 30  # not the 150 s health budget


def test_ctrl_c_ends_a_health_wait_at_once(stack: StackFixture) -> None:
    stack.write(
        f"""
[containers.db]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
healthcheck = {{ test = "false", interval = "1s", retries = 100 }}

[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
depends_on = {{ db = "healthy" }}
"""
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "hostform.plans.cli", "apply", str(stack.file), "--auto-approve"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while not stack.containers() and time.monotonic() < deadline:  # wait until it is waiting
        time.sleep(0.2)
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, out + err
    assert time.monotonic() - sent < 10, out + err
    assert "interrupted" in out + err


def test_an_image_that_cannot_be_pulled_changes_nothing(stack: StackFixture) -> None:
    stack.write(SLEEPER)
    stack.apply()
    before = stack.inspect(f"{stack.name}-app")["Id"]
    # app would be replaced (command changed) and new needs an image from a registry nobody serves
    stack.write(
        SLEEPER.replace('"600"', '"700"')
        + '\n[containers.new]\nimage = "127.0.0.1:5999/hostform-absent:1"\ncommand = ["sleep", "1"]\n'
    )
    result = stack.apply(check=False)
    assert result.code == 1 and "127.0.0.1:5999/hostform-absent:1" in result.both, result.both
    assert "nothing was changed" in result.both and "Traceback" not in result.both, result.both
    assert stack.inspect(f"{stack.name}-app")["Id"] == before
    assert [c["Names"][0] for c in stack.containers()] == [f"/{stack.name}-app"]


def test_a_file_target_that_is_a_folder_in_the_image_is_refused_before_anything_changes(stack: StackFixture) -> None:
    """The network, the volume and the other container would have come first: none is made."""
    stack.write(
        f"""
[networks.back]

[volumes.data]

[files.conf]
content = "x"

[containers.first]
image = "{BUSYBOX}"
command = ["sleep", "600"]
networks = ["back"]
volumes = ["data:/data"]

[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
networks = ["back"]
depends_on = ["first"]
files = [{{ source = "conf", target = "/etc" }}]
"""
    )
    result = stack.apply(check=False)
    assert result.code == 1 and "Traceback" not in result.both, result.both
    assert f"containers.web: file target /etc is a folder in the image {BUSYBOX}: name a file" in result.err
    assert "containers.first: not done (nothing was changed" in result.err, result.err
    label = {"label": f"io.hostform.stack={stack.name}"}
    assert stack.containers() == []  # neither container, nor the probe the check used
    assert stack.api.networks(filters=label) == []  # type: ignore[attr-defined]
    assert (stack.api.volumes(filters=label).get("Volumes") or []) == []  # type: ignore[attr-defined]
    assert stack.plan().code == 2  # the plan itself changed nothing either
    assert stack.containers() == [] and stack.api.networks(filters=label) == []  # type: ignore[attr-defined]
