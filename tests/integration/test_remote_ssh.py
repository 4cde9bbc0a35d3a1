"""An engine over ssh://: a real sshd of the test's own (key auth) in front of this machine's
engine, `docker system dial-stdio` on the far side, the system's ssh client on this side."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import BUSYBOX, StackFixture
from tests.integration.remote_engines import SSHEngine, sshd

BODY = f"""
[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
replicas = 3

[containers.db]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
"""


@pytest.fixture(scope="module")
def ssh_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SSHEngine]:
    with sshd(tmp_path_factory.mktemp("sshd")) as engine:
        yield engine


def ssh_processes() -> set[int]:
    """ssh clients that are children of nobody but init or the test (left behind would show here)."""
    mine = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"docker system dial-stdio" in cmd and cmd[0].endswith(b"ssh"):
                mine.add(int(entry.name))
    return mine


def test_plan_apply_drift_destroy_over_ssh_with_host(stack: StackFixture, ssh_engine: SSHEngine) -> None:
    stack.env.update(ssh_engine.env())
    stack.write(BODY)
    host = ("--host", ssh_engine.url)
    before = ssh_processes()
    first = stack.run("plan", str(stack.file), "--detailed-exitcode", *host)
    assert first.code == 2 and "5 to add" in first.out, first.both
    stack.run("apply", str(stack.file), "--auto-approve", *host, check=True)
    assert len(stack.containers()) == 4  # on this machine's engine, reached through sshd
    again = stack.run("plan", str(stack.file), "--detailed-exitcode", *host)
    assert again.code == 0 and "No changes" in again.out, again.both
    drift = stack.run("drift", str(stack.file), *host)
    assert drift.code == 0, drift.both
    stack.api.stop(f"{stack.name}-db", timeout=0)  # type: ignore[attr-defined]
    drift = stack.run("drift", str(stack.file), "--json", *host)
    assert drift.code == 2 and f"{stack.name}-db" in drift.out, drift.both
    stack.run("destroy", str(stack.file), "--auto-approve", *host, check=True)
    assert stack.containers() == []
    assert ssh_processes() <= before  # every ssh the commands started has ended with them


def test_docker_host_names_an_ssh_engine(stack: StackFixture, ssh_engine: SSHEngine) -> None:
    stack.env.update(ssh_engine.env())
    stack.env["DOCKER_HOST"] = ssh_engine.url
    stack.write(BODY)
    stack.apply()
    assert stack.plan().code == 0


def test_an_ssh_engine_that_refuses_is_one_clear_error(stack: StackFixture, ssh_engine: SSHEngine) -> None:
    stack.env.update(ssh_engine.env())
    stack.write(BODY)
    wrong_user = ssh_engine.url.replace("root@", "nobody@")
    result = stack.run("plan", str(stack.file), "--host", wrong_user)
    assert result.code == 1, result.both
    assert "Traceback" not in result.err
    assert "cannot reach the Docker engine" in result.err
    assert "Permission denied" in result.err  # ssh's own words, on the user's stderr
