"""Bad engine states give one clear error, exit 1 and no traceback; a re-run converges."""

from __future__ import annotations

import os
import socket
import uuid

import pytest

from tests.integration.conftest import BUSYBOX, StackFixture

SLEEPER = f"""
[containers.app]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
"""


def assert_clean_error(result: object, *words: str) -> None:
    code, both = result.code, result.both  # type: ignore[attr-defined]
    assert code == 1, both
    assert "Traceback" not in both, both
    assert "error:" in both, both
    for word in words:
        assert word in both, f"{word!r} not in:\n{both}"


@pytest.mark.parametrize("command", ["plan", "apply", "destroy"])
def test_unreachable_engine_by_flag(stack: StackFixture, command: str) -> None:
    stack.write(SLEEPER)
    extra = ["--auto-approve"] if command != "plan" else []
    result = stack.run(command, str(stack.file), "--host", "unix:///nonexistent.sock", *extra)
    assert_clean_error(result, "cannot reach the Docker engine", "/nonexistent.sock")


@pytest.mark.parametrize("host", ["unix:///nonexistent.sock", "tcp://127.0.0.1:1"])
def test_unreachable_engine_by_docker_host(stack: StackFixture, host: str) -> None:
    stack.write(SLEEPER)
    stack.env["DOCKER_HOST"] = host
    result = stack.run("apply", str(stack.file), "--auto-approve")
    assert_clean_error(result, "cannot reach the Docker engine", host)
    stack.env.pop("DOCKER_HOST")
    assert stack.containers() == []


def test_missing_image_with_pull_never(stack: StackFixture) -> None:
    image = f"hostform-test/absent-{uuid.uuid4().hex[:8]}:1"
    stack.write(SLEEPER.replace(BUSYBOX, image) + 'pull = "never"\n')
    planned = stack.plan()
    assert planned.code == 1 and "is not on the engine and pull = 'never'" in planned.both
    result = stack.apply(check=False)
    assert_clean_error(result, image, "pull = 'never'")
    assert stack.containers() == []
    # refused before the host is touched: not even the stack's network was created
    assert stack.api.networks(filters={"label": f"io.hostform.stack={stack.name}"}) == []  # type: ignore[attr-defined]
    stack.write(SLEEPER + 'pull = "never"\n')  # the image fixed: a re-run converges
    stack.apply()
    assert stack.plan().code == 0


def test_missing_bind_source_is_refused_before_anything_is_made(stack: StackFixture) -> None:
    # The engine refuses a bind mount of a missing path only when it creates that container:
    # without the check an apply would stop halfway, with its other containers already made.
    body = SLEEPER + SLEEPER.replace("[containers.app]", "[containers.db]") + 'volumes = ["./data:/data"]\n'
    stack.write(body)
    planned = stack.plan()
    # a source inside the stack's folder is named as written there: no host path is shown
    assert planned.code == 1 and "bind-mount source ./data does not exist" in planned.both, planned.both
    result = stack.apply(check=False)
    assert_clean_error(result, "./data", "db mounts it at /data")
    assert stack.containers() == []
    assert stack.api.networks(filters={"label": f"io.hostform.stack={stack.name}"}) == []  # type: ignore[attr-defined]
    (stack.dir / "data").mkdir()
    stack.apply()
    assert stack.plan().code == 0


def test_host_port_taken(stack: StackFixture) -> None:
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    stack.write(
        f"""
[containers.web]
image = "{BUSYBOX}"
command = ["httpd", "-f", "-p", "80"]
stop_signal = "SIGKILL"
ports = ["127.0.0.1:{port}:80"]
"""
        + SLEEPER
    )
    try:
        # the host's sockets are read at plan time: the holder is named, nothing is touched
        plan = stack.plan()
        assert plan.code == 1 and f"127.0.0.1:{port}/tcp is already bound by pid {os.getpid()}" in plan.out, plan.both
        result = stack.apply(check=False)
        assert_clean_error(result, str(port), "already")
        assert stack.containers() == []
    finally:
        holder.close()
    stack.apply()
    info = stack.inspect(f"{stack.name}-web")
    assert info["State"]["Running"]
    assert info["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"] == str(port)
    assert stack.plan().code == 0


def test_files_into_a_read_only_container(stack: StackFixture) -> None:
    """The engine cannot copy into a read-only rootfs: refused at validation, nothing created."""
    stack.write(
        SLEEPER + 'read_only = true\nfiles = [{ source = "conf", target = "/etc/app.conf" }]\n'
        '[files.conf]\ncontent = "x"\n'
    )
    result = stack.apply(check=False)
    assert_clean_error(result, "read")
    assert stack.containers() == []
