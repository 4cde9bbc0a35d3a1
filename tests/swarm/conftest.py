"""Tests on a 3-node Swarm: ONE test bed per session (scripts/swarm-up), removed at the end
(scripts/swarm-down) unless it was already up before the session. Each test has its own stack
name; whatever carries its label is removed afterwards. With CI set, a bed that cannot come up
fails the tests instead of skipping them."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import CLIResult, run_cli

REPO = Path(__file__).resolve().parents[2]
REGISTRY = "10.81.0.1:5000"
BUSYBOX = f"{REGISTRY}/hostform-test/busybox:1"
BUSYBOX2 = f"{REGISTRY}/hostform-test/busybox:2"
# an HTTP request through busybox nc (its wget crashes on name lookups in a static build)
GET = 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w 2'


@dataclass
class SwarmBed:
    manager: str
    nodes: dict[str, str]  # s1 -> its engine's address

    def api(self, node: str = "s1") -> Any:
        import docker

        return docker.APIClient(base_url=self.nodes[node], version="1.41", timeout=60)

    def node_states(self) -> dict[str, str]:
        return {n["Description"]["Hostname"]: n["Status"]["State"] for n in self.api().nodes()}

    def bed(self, *args: str) -> None:
        subprocess.run(["python3", "-m", "tests.swarm.bed", *args], check=True, cwd=REPO, timeout=120)


@pytest.fixture(scope="session")
def swarm_bed() -> Iterator[SwarmBed]:
    from tests.swarm.bed import NODES, Bed, engine_answers

    bed = Bed()
    was_up = all(engine_answers(bed, n) for n in NODES)
    try:
        subprocess.run([str(REPO / "scripts/swarm-up")], check=True, cwd=REPO, capture_output=True, timeout=300)
    except (subprocess.SubprocessError, OSError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        message = f"the Swarm test bed does not come up: {exc} {detail.decode(errors='replace')[-800:]}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    yield SwarmBed(bed.manager, {n: bed.socket(n) for n in NODES})
    if not was_up:
        subprocess.run([str(REPO / "scripts/swarm-down")], check=False, cwd=REPO, capture_output=True, timeout=120)


@dataclass
class SwarmStack:
    """A stack folder with a unique name, on target = "swarm", and hostform run against the manager."""

    name: str
    dir: Path
    bed: SwarmBed
    env: dict[str, str] = field(default_factory=dict)

    @property
    def file(self) -> Path:
        return self.dir / "hostform.toml"

    def write(self, body: str) -> Path:
        self.file.write_text(f'[stack]\nname = "{self.name}"\ntarget = "swarm"\n\n{body}', encoding="utf-8")
        return self.file

    def run(self, *args: str, check: bool = False, timeout: float = 300) -> CLIResult:
        env = {"DOCKER_HOST": self.bed.manager, **self.env}
        return run_cli(*args, env=env, check=check, timeout=timeout, cwd=self.dir)

    def plan(self, *extra: str) -> CLIResult:
        return self.run("plan", str(self.file), "--detailed-exitcode", *extra)

    def apply(self, *extra: str, check: bool = True) -> CLIResult:
        return self.run("apply", str(self.file), "--auto-approve", *extra, check=check)

    def service(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = self.bed.api().inspect_service(f"{self.name}_{name}")
        return result

    def scale_by_hand(self, name: str, replicas: int) -> None:
        """`docker service scale`, by hand: the whole spec sent back with only the replicas changed."""
        svc = self.service(name)
        spec = svc["Spec"]
        spec["Mode"]["Replicated"]["Replicas"] = replicas
        self.bed.api().update_service(
            svc["ID"],
            svc["Version"]["Index"],
            task_template=spec["TaskTemplate"],
            mode=spec["Mode"],
            labels=spec["Labels"],
            name=spec["Name"],
            networks=spec["TaskTemplate"].get("Networks"),
            endpoint_spec=spec.get("EndpointSpec"),
            update_config=spec.get("UpdateConfig"),
            rollback_config=spec.get("RollbackConfig"),
        )

    def tasks(self, name: str, running: bool = True) -> list[dict[str, Any]]:
        filters: dict[str, Any] = {"service": f"{self.name}_{name}"}
        if running:
            filters["desired-state"] = "running"
        tasks: list[dict[str, Any]] = self.bed.api().tasks(filters=filters)
        return [t for t in tasks if not running or t["Status"]["State"] == "running"]

    def nodes_of(self, name: str) -> list[str]:
        names = {n["ID"]: n["Description"]["Hostname"] for n in self.bed.api().nodes()}
        return sorted(names.get(t.get("NodeID", ""), "?") for t in self.tasks(name))

    def labelled(self, kind: str) -> list[dict[str, Any]]:
        """The stack's objects of one kind; the record's generations (configs) are not among them."""
        api = self.bed.api()
        lister = {"service": api.services, "config": api.configs, "secret": api.secrets, "network": api.networks}[kind]
        found: list[dict[str, Any]] = lister(filters={"label": f"io.hostform.stack={self.name}"})
        return [o for o in found if _labels(o).get("io.hostform.kind") != "record"]

    def records(self) -> list[dict[str, Any]]:
        """The record's generations on the manager, oldest first."""
        found: list[dict[str, Any]] = self.bed.api().configs(filters={"label": f"io.hostform.record={self.name}"})
        return sorted(found, key=lambda c: int(_labels(c)["io.hostform.generation"]))


def _labels(obj: dict[str, Any]) -> dict[str, str]:
    labels: dict[str, str] = (obj.get("Spec") or obj).get("Labels") or {}
    return labels


def wait_until(check: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.3)


def remove_swarm_stack(bed: SwarmBed, name: str) -> None:
    api = bed.api()
    label = {"label": f"io.hostform.stack={name}"}
    for s in api.services(filters=label):
        api.remove_service(s["ID"])
    for kind in ("configs", "secrets"):
        for _ in range(20):
            left = getattr(api, kind)(filters=label)
            for obj in left:
                with contextlib.suppress(Exception):
                    getattr(api, f"remove_{kind[:-1]}")(obj["ID"])
            if not left:
                break
            time.sleep(0.5)
    for c in api.configs(filters={"name": f"hostform.lock.{name}"}):
        if c["Spec"]["Name"] == f"hostform.lock.{name}":  # the filter matches a prefix too
            api.remove_config(c["ID"])
    for n in api.networks(filters=label):
        with contextlib.suppress(Exception):
            api.remove_network(n["Id"])


@pytest.fixture
def swarm_stack(swarm_bed: SwarmBed, tmp_path: Path) -> Iterator[SwarmStack]:
    name = f"hfs{uuid.uuid4().hex[:6]}"
    yield SwarmStack(name, tmp_path, swarm_bed)
    remove_swarm_stack(swarm_bed, name)
