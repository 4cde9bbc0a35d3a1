"""An engine over tcp:// with TLS: a second dockerd of the test's own, listening on a loopback
port with certificates the test makes (client certificates required)."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import BUSYBOX, StackFixture, remove_stack_objects
from tests.integration.remote_engines import TLSEngine, make_certificates, need, tls_dockerd

BODY = f"""
[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
replicas = 2
"""


@pytest.fixture(scope="session")
def tls_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TLSEngine]:
    # a short folder: dockerd's and containerd's unix sockets live under it
    workdir = Path(f"/tmp/hft-tls-{uuid.uuid4().hex[:8]}")
    workdir.mkdir()
    try:
        with tls_dockerd(workdir) as engine:
            docker = need("docker")
            saved = subprocess.run([docker, "save", BUSYBOX], check=True, capture_output=True).stdout
            subprocess.run(
                [docker, "-H", f"unix://{engine.socket}", "load"], input=saved, check=True, capture_output=True
            )
            yield engine
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def remote_stack(stack: StackFixture, tls_engine: TLSEngine) -> Iterator[StackFixture]:
    import docker

    api = docker.APIClient(base_url=f"unix://{tls_engine.socket}", version="1.41", timeout=60)
    stack.api = api  # the stack's objects live on the second engine
    yield stack
    remove_stack_objects(api, stack.name)


def test_docker_tls_verify_and_cert_path_reach_a_tls_engine(remote_stack: StackFixture, tls_engine: TLSEngine) -> None:
    remote_stack.env.update(
        {"DOCKER_HOST": tls_engine.url, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tls_engine.certs)}
    )
    remote_stack.write(BODY)
    first = remote_stack.plan()
    assert first.code == 2 and "3 to add" in first.out, first.both
    remote_stack.apply()
    assert len(remote_stack.containers()) == 2
    assert remote_stack.plan().code == 0
    assert remote_stack.run("drift", str(remote_stack.file)).code == 0
    remote_stack.run("destroy", str(remote_stack.file), "--auto-approve", check=True)
    assert remote_stack.containers() == []


def test_tls_flags_reach_a_tls_engine(remote_stack: StackFixture, tls_engine: TLSEngine) -> None:
    certs = tls_engine.certs
    flags = ("--host", tls_engine.url, "--tlsverify", "--tlscacert", str(certs / "ca.pem"))
    flags += ("--tlscert", str(certs / "cert.pem"), "--tlskey", str(certs / "key.pem"))
    remote_stack.write(BODY)
    remote_stack.run("apply", str(remote_stack.file), "--auto-approve", *flags, check=True)
    again = remote_stack.run("plan", str(remote_stack.file), "--detailed-exitcode", *flags)
    assert again.code == 0 and "No changes" in again.out, again.both


def test_a_tls_engine_without_tls_or_with_another_ca_is_one_clear_error(
    remote_stack: StackFixture, tls_engine: TLSEngine, tmp_path: Path
) -> None:
    remote_stack.write(BODY)
    plain = remote_stack.run("plan", str(remote_stack.file), "--host", tls_engine.url)
    assert plain.code == 1 and "Traceback" not in plain.err and plain.err.startswith("error: "), plain.both
    make_certificates(tmp_path / "other")  # a CA that did not sign the engine's certificate
    other = remote_stack.run(
        "plan", str(remote_stack.file), "--host", tls_engine.url, "--tlsverify",
        "--tlscacert", str(tmp_path / "other" / "ca.pem"),
        "--tlscert", str(tmp_path / "other" / "cert.pem"), "--tlskey", str(tmp_path / "other" / "key.pem"),
    )  # fmt: skip
    assert other.code == 1 and "Traceback" not in other.err, other.both
    assert "cannot reach the Docker engine" in other.err and "certificate verify failed" in other.err, other.err
    missing = remote_stack.run("plan", str(remote_stack.file), "--host", tls_engine.url, "--tlscacert", "/nonexistent")
    assert missing.code == 1 and "--tlscacert /nonexistent: no such file" in missing.err, missing.both


def test_the_second_engine_leaves_the_main_engines_bridge_alone(tls_engine: TLSEngine) -> None:
    """A dockerd started with `--bridge none` deletes docker0 in its network namespace, which took
    the main engine's default bridge away (and with it every build with a RUN step). The test's
    engine runs with a bridge of its own instead."""
    import docker

    main = docker.APIClient(version="1.41", timeout=30)
    bridge = main.inspect_network("bridge")["Options"].get("com.docker.network.bridge.name")
    assert bridge, "the main engine has no default bridge to check"
    assert Path(f"/sys/class/net/{bridge}").exists(), f"{bridge} is gone while the TLS engine runs"


def test_a_held_lock_read_with_the_first_wave_stops_drift_and_marks_the_plan(
    remote_stack: StackFixture, tls_engine: TLSEngine
) -> None:
    """On a remote engine the stack lock is read along with observe's listings (no round trip of
    its own): a plan with changes and drift still see an apply that holds it."""
    from hostform.runtime.engine import Engine
    from hostform.runtime.lock import acquire, release
    from hostform.runtime.tls import tls_settings

    remote_stack.env.update(
        {"DOCKER_HOST": tls_engine.url, "DOCKER_TLS_VERIFY": "1", "DOCKER_CERT_PATH": str(tls_engine.certs)}
    )
    remote_stack.write(BODY)
    remote_stack.apply()
    certs = tls_engine.certs
    tls = tls_settings(False, True, str(certs / "ca.pem"), str(certs / "cert.pem"), str(certs / "key.pem"))
    engine = Engine(tls_engine.url, tls=tls)
    acquire(engine, remote_stack.name, "apply")  # held by this (living) test process
    try:
        remote_stack.write(BODY.replace('"600"', '"601"'))
        plan = remote_stack.plan()
        assert plan.code == 2 and "apply in progress" in plan.out, plan.both
        drift = remote_stack.run("drift", str(remote_stack.file))
        assert drift.code == 0 and "apply in progress" in drift.out, drift.both
    finally:
        release(engine, remote_stack.name)
        engine.close()
    drift = remote_stack.run("drift", str(remote_stack.file))
    assert drift.code == 0 and "apply in progress" not in drift.out and "pending change" in drift.out, drift.both
