"""Integration tests against a real Docker engine.

Each test gets a unique stack name; everything carrying that stack's label is
removed afterwards (docker-py's integration tests keep such a list too). When
CI is set, a missing engine fails the tests instead of skipping them.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hostform.runtime.lock import LABEL_LOCK

BUSYBOX = "hostform-test/busybox:1"
BUSYBOX2 = "hostform-test/busybox:2"
RICH = "hostform-test/rich:1"
REPO = Path(__file__).resolve().parents[2]
PODMAN_SOCKET = "unix:///run/podman/podman.sock"

# HOSTFORM_TEST_ENGINE=podman runs these tests against Podman's Docker-compatible API
# (scripts/podman-up): hostform, the test's API client and the docker CLI all follow DOCKER_HOST.
ENGINE = os.environ.get("HOSTFORM_TEST_ENGINE", "docker")
if ENGINE == "podman":
    os.environ["DOCKER_HOST"] = os.environ.get("HOSTFORM_PODMAN_HOST", PODMAN_SOCKET)


@pytest.fixture(scope="session")
def docker_api():  # type: ignore[no-untyped-def]
    import docker

    try:
        api = docker.APIClient(base_url=os.environ.get("DOCKER_HOST") or None, version="1.41", timeout=60)
        api.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means no engine
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and no Docker engine answers: {exc}")
        pytest.skip(f"no Docker engine: {exc}")
    for image in (BUSYBOX, BUSYBOX2):
        try:
            api.inspect_image(image)
        except Exception:  # noqa: BLE001
            pytest.fail(f"image {image} is missing: run scripts/engine-up first")
    return api


@dataclass
class CLIResult:
    code: int
    out: str
    err: str

    @property
    def both(self) -> str:
        return self.out + self.err


@dataclass
class StackFixture:
    """A stack folder with a unique name, and a way to run hostform on it."""

    name: str
    dir: Path
    api: object
    env: dict[str, str] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        return self.dir / "hostform.toml"

    def write(self, body: str, **files: str) -> Path:
        self.file.write_text(f'[stack]\nname = "{self.name}"\n\n{body}', encoding="utf-8")
        for rel, text in files.items():
            target = self.dir / rel.replace("__", "/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        return self.file

    def run(self, *args: str, check: bool = False, timeout: float = 300) -> CLIResult:
        return run_cli(*args, env=self.env, check=check, timeout=timeout, cwd=self.dir)

    def plan(self, *extra: str) -> CLIResult:
        return self.run("plan", str(self.file), "--detailed-exitcode", *extra)

    def apply(self, *extra: str, check: bool = True) -> CLIResult:
        return self.run("apply", str(self.file), "--auto-approve", *extra, check=check)

    def containers(self) -> list[dict]:  # type: ignore[type-arg]
        """The stack's containers, without the generations of its record (runtime.record)."""
        listed = self.api.containers(all=True, filters={"label": f"io.hostform.stack={self.name}"})  # type: ignore[attr-defined]
        return [c for c in listed if (c.get("Labels") or {}).get("io.hostform.kind") != "record"]

    def record_volumes(self) -> list[dict]:  # type: ignore[type-arg]
        """The volumes of the stack's record: its generations, its lock, its key (runtime.record)."""
        found = self.api.volumes(filters={"label": f"io.hostform.record={self.name}"})  # type: ignore[attr-defined]
        return list(found.get("Volumes") or [])

    def generations(self) -> list[dict]:  # type: ignore[type-arg]
        return [v for v in self.record_volumes() if v["Name"].startswith("hostform.record.")]

    def inspect(self, engine_name: str) -> dict:  # type: ignore[type-arg]
        return self.api.inspect_container(engine_name)  # type: ignore[attr-defined]


def run_cli(
    *args: str, env: dict[str, str] | None = None, check: bool = False, timeout: float = 300, cwd: Path | None = None
) -> CLIResult:
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "hostform.plans.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        cwd=cwd or REPO,
    )
    result = CLIResult(proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise AssertionError(f"hostform {' '.join(args)} exited {proc.returncode}:\n{result.both}")
    return result


def remove_stack_objects(api, name: str) -> None:  # type: ignore[no-untyped-def]
    label = {"label": f"io.hostform.stack={name}"}
    lock = {"label": f"{LABEL_LOCK}={name}"}  # the lock carries no stack label
    record = {"label": f"io.hostform.record={name}"}  # nor does the record: its volumes, its lock, its key
    for c in api.containers(all=True, filters=label) + api.containers(all=True, filters=lock):
        api.remove_container(c["Id"], force=True)
    for c in api.containers(all=True, filters=record):  # an older hostform's record
        api.remove_container(c["Id"], force=True)
    for v in api.volumes(filters=record).get("Volumes") or []:
        with contextlib.suppress(Exception):  # gone already
            api.remove_volume(v["Name"], force=True)
    for n in api.networks(filters=label):
        api.remove_network(n["Id"])
    for v in api.volumes(filters=label).get("Volumes") or []:
        api.remove_volume(v["Name"], force=True)
    for image in api.images(filters=label):  # images hostform built for the stack
        for tag in image.get("RepoTags") or []:
            with contextlib.suppress(Exception):  # already gone with an earlier tag
                api.remove_image(tag)
        with contextlib.suppress(Exception):
            api.remove_image(image["Id"], force=True)


@pytest.fixture
def private_tag(stack: StackFixture) -> Iterator[str]:
    """A tag of this test's own on busybox:1, which the test may move; removed afterwards."""
    repo = f"hostform-test/retag-{uuid.uuid4().hex[:8]}"
    stack.api.tag(BUSYBOX, repo, "x")  # type: ignore[attr-defined]
    yield f"{repo}:x"
    with contextlib.suppress(Exception):  # already gone
        stack.api.remove_image(f"{repo}:x", noprune=True)  # type: ignore[attr-defined]


@pytest.fixture
def stack(docker_api, tmp_path: Path) -> Iterator[StackFixture]:  # type: ignore[no-untyped-def]
    name = f"hft{uuid.uuid4().hex[:8]}"
    # built images' context cache: the test's own, outside the stack folder
    fixture = StackFixture(name, tmp_path, docker_api, {"XDG_CACHE_HOME": f"{tmp_path}-cache"})
    yield fixture
    remove_stack_objects(docker_api, name)


@pytest.fixture(scope="session")
def private_engine(docker_api):  # type: ignore[no-untyped-def]
    """A dockerd of the session's own in a network namespace (tests/integration/private_engine.py),
    for what must never run on the shared engine: prunes, an engine restart."""
    from tests.integration.private_engine import private_engine as started

    with started(docker_api) as engine:
        yield engine
