"""`hostform import compose` on a corpus of Compose projects, through validate and apply on the real
engine; where Debian's docker-compose (1.29) runs the same file, what both create is compared field
by field (docker inspect).
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import REPO, CLIResult, remove_stack_objects, run_cli

CORPUS = REPO / "tests" / "fixtures" / "compose"


@dataclass(frozen=True)
class Case:
    folder: str
    files: tuple[str, ...] = ("docker-compose.yml",)
    env: dict[str, str] = field(default_factory=dict)
    compose_runs_it: bool = True  # docker-compose 1.29 accepts the file
    external: tuple[tuple[str, str], ...] = ()  # (kind, name) the project expects to exist


CASES = {
    "webapp": Case("webapp", env={"DB_PASSWORD": "pw-for-tests", "SECRET_KEY": "sk-for-tests"}),
    "queue": Case("queue"),
    "monitoring": Case("monitoring", env={"GRAFANA_PASSWORD": "gp-for-tests"}),
    "proxy": Case("proxy", ("docker-compose.yml", "docker-compose.prod.yml"), {"TLS_KEY_FILE": "tls/site.key"}),
    "everything": Case(
        "everything",
        env={"ALL_SECRET_FILE": "secret.txt", "API_TOKEN": "tok-for-tests"},
        compose_runs_it=False,  # 1.29 knows neither top-level `name` nor long-form `host_ip`
        external=(("network", "everything-outside-net"), ("volume", "everything-archive")),
    ),
}


@dataclass
class Project:
    name: str
    dir: Path
    case: Case
    api: Any

    @property
    def stack_file(self) -> Path:
        return self.dir / "hostform.toml"

    @property
    def env(self) -> dict[str, str]:
        # secret files are named relative to the project folder
        return {k: str(self.dir / v) if k.endswith("_FILE") else v for k, v in self.case.env.items()}

    def hostform(self, *args: str, check: bool = True) -> CLIResult:
        return run_cli(*args, env=self.env, check=check, cwd=self.dir)

    def import_(self) -> CLIResult:
        more = [a for f in self.case.files[1:] for a in ("-f", f)]
        args = ("import", "compose", self.case.files[0], *more, "-p", self.name, "-o", "hostform.toml", "--force")
        return self.hostform(*args)

    def compose(self, *args: str) -> None:
        files = [a for f in self.case.files for a in ("-f", f)]
        cmd = [ensure_compose(), *files, "-p", self.name, *args]
        import os

        proc = subprocess.run(cmd, cwd=self.dir, env={**os.environ, **self.env}, capture_output=True, text=True)
        assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stderr}"


def ensure_compose() -> str:
    """Debian's docker-compose, installed when missing (CI starts from a fresh machine)."""
    found = shutil.which("docker-compose")
    if found:
        return found
    import os

    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "docker-compose"], check=True, env=env)
    return shutil.which("docker-compose") or "docker-compose"


@pytest.fixture
def project(request: pytest.FixtureRequest, docker_api: Any, tmp_path: Path) -> Iterator[Project]:
    case: Case = CASES[request.param]
    folder = tmp_path / case.folder
    shutil.copytree(CORPUS / case.folder, folder)
    _shift_host_ports(folder)
    made = _externals(docker_api, case)
    p = Project(f"hfc{uuid.uuid4().hex[:8]}", folder, case, docker_api)
    yield p
    _compose_leftovers(docker_api, p.name)
    remove_stack_objects(docker_api, p.name)
    for kind, name in made:
        (docker_api.remove_network if kind == "network" else docker_api.remove_volume)(name)


def _shift_host_ports(folder: Path) -> None:
    """Several developers' suites share one engine: each run publishes the corpus's host ports
    (18xxx, 19xxx) moved by one random offset, so ranges stay ranges and no two runs collide."""
    import random
    import re

    offset = random.randrange(1, 1000) * 10
    for path in [*folder.glob("*.yml"), *folder.glob(".env")]:
        text = path.read_text(encoding="utf-8")
        path.write_text(re.sub(r"\b1[89]\d{3}\b", lambda m: str(int(m.group(0)) + offset), text), encoding="utf-8")


def _externals(api: Any, case: Case) -> list[tuple[str, str]]:
    made = []
    for kind, name in case.external:
        if kind == "network" and not api.networks(names=[name]):
            api.create_network(name)
            made.append((kind, name))
        elif kind == "volume" and name not in {v["Name"] for v in api.volumes().get("Volumes") or []}:
            api.create_volume(name)
            made.append((kind, name))
    return made


def _compose_leftovers(api: Any, name: str) -> None:
    label = {"label": f"com.docker.compose.project={name}"}
    for c in api.containers(all=True, filters=label):
        api.remove_container(c["Id"], force=True)
    for n in api.networks(filters=label):
        api.remove_network(n["Id"])
    for v in api.volumes(filters=label).get("Volumes") or []:
        api.remove_volume(v["Name"], force=True)


@pytest.mark.parametrize("project", sorted(CASES), indirect=True)
def test_import_validate_apply(project: Project) -> None:
    project.import_()
    first = project.stack_file.read_bytes()
    project.import_()
    assert project.stack_file.read_bytes() == first, "a second import wrote other bytes"
    for value in project.env.values():
        if not value.startswith("/"):
            assert value.encode() not in first, "a secret's value is in the stack file"
    project.hostform("validate", "hostform.toml")
    project.hostform("apply", "hostform.toml", "--auto-approve")
    states = {
        c["Labels"]["io.hostform.name"]: c["State"] for c in _containers(project.api, "io.hostform.stack", project)
    }
    assert states, "nothing was created"
    again = project.hostform("plan", "hostform.toml", "--detailed-exitcode", check=False)
    assert again.code == 0, f"the plan after apply is not empty:\n{again.both}"


@pytest.mark.parametrize("project", sorted(k for k, c in CASES.items() if c.compose_runs_it), indirect=True)
def test_same_as_compose(project: Project) -> None:
    project.compose("up", "-d")
    _wait_settled(project.api, "com.docker.compose.project", project)
    by_compose = {
        _compose_key(c): _facts(project.api.inspect_container(c["Id"]))
        for c in _containers(project.api, "com.docker.compose.project", project)
    }
    project.compose("down", "-v")
    project.import_()
    project.hostform("apply", "hostform.toml", "--auto-approve")
    by_hostform = {
        _hostform_key(c): _facts(project.api.inspect_container(c["Id"]))
        for c in _containers(project.api, "io.hostform.stack", project)
    }
    assert len(by_compose) >= 3, f"compose made too little: {sorted(by_compose)}"
    assert sorted(by_hostform) == sorted(by_compose)
    for key, facts in by_compose.items():
        assert by_hostform[key] == facts, f"{key} differs"
    print(project.case.folder, "compared:", ", ".join(sorted(by_compose)))


def _containers(api: Any, label: str, project: Project) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = api.containers(all=True, filters={"label": f"{label}={project.name}"})
    return [c for c in found if (c.get("Labels") or {}).get("io.hostform.kind") != "record"]  # the applied record


def _wait_settled(api: Any, label: str, project: Project) -> None:
    """docker-compose up -d returns before one-shot services finish."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = [c["State"] for c in _containers(api, label, project)]
        if states and all(s in ("running", "exited") for s in states):
            return
        time.sleep(0.5)


def _compose_key(c: dict[str, Any]) -> str:
    labels = c["Labels"]
    return f"{labels['com.docker.compose.service']}[{labels['com.docker.compose.container-number']}]"


def _hostform_key(c: dict[str, Any]) -> str:
    return f"{c['Labels']['io.hostform.name']}[{c['Labels']['io.hostform.replica']}]"


_HEALTH_DEFAULTS = {"Interval": 30 * 10**9, "Timeout": 30 * 10**9, "Retries": 3, "StartPeriod": 0}


def _facts(c: dict[str, Any]) -> dict[str, Any]:
    """What a user declares, read back from the engine; each tool's own labels and ids left out.

    Compose 1.29 sends only the healthcheck fields given (the engine fills in its defaults), hostform
    all of them: both mean the same, so missing ones read as the defaults. Compose's `configs` are
    Swarm-only there, and its secrets are bind mounts where hostform copies files: those targets
    are compared by content instead.
    """
    cfg, host = c["Config"], c["HostConfig"]
    short = c["Id"][:12]
    hc = cfg.get("Healthcheck")
    return {
        "env": sorted(cfg["Env"] or []),
        "cmd": cfg["Cmd"],
        "entrypoint": cfg["Entrypoint"],
        "user": cfg["User"],
        "working_dir": cfg["WorkingDir"],
        "stop_signal": cfg.get("StopSignal"),
        "labels": {k: v for k, v in cfg["Labels"].items() if not k.startswith(("com.docker.compose.", "io.hostform."))},
        "mounts": sorted(
            (m["Type"], m.get("Name") or m["Source"], m["Destination"], m["RW"])
            for m in c["Mounts"]
            if not m["Destination"].startswith("/run/secrets/")
        ),
        "ports": {
            k: sorted((b["HostIp"], b["HostPort"]) for b in v or []) for k, v in (host["PortBindings"] or {}).items()
        },
        "networks": {
            net: sorted(a for a in (n["Aliases"] or []) if a not in (short, cfg["Hostname"]))
            for net, n in c["NetworkSettings"]["Networks"].items()
        },
        "healthcheck": {**_HEALTH_DEFAULTS, **{k: v for k, v in hc.items() if v}} if hc else None,
        "restart": (host["RestartPolicy"]["Name"] or "no", host["RestartPolicy"]["MaximumRetryCount"]),
        "limits": {k: host.get(k) or 0 for k in ("Memory", "MemoryReservation", "NanoCpus", "PidsLimit")},
        "caps": (sorted(host["CapAdd"] or []), sorted(host["CapDrop"] or [])),
        "read_only": host["ReadonlyRootfs"],
        "extra_hosts": sorted(host["ExtraHosts"] or []),
        "tmpfs": host.get("Tmpfs") or {},
    }


@pytest.mark.parametrize("project", ["webapp"], indirect=True)
def test_move_a_running_project_keeping_its_data(project: Project) -> None:
    """Until adoption: compose down (volumes kept), then apply a stack importing them as they are."""
    project.compose("up", "-d")
    _wait_settled(project.api, "com.docker.compose.project", project)
    db = project.api.containers(
        filters={"label": [f"com.docker.compose.project={project.name}", "com.docker.compose.service=db"]}
    )[0]
    _exec(project.api, db["Id"], "echo kept > /var/lib/postgresql/data/marker")
    more = [a for f in project.case.files[1:] for a in ("-f", f)]
    project.hostform(
        "import",
        "compose",
        "docker-compose.yml",
        *more,
        "-p",
        project.name,
        "--existing-volumes",
        "-o",
        "hostform.toml",
    )
    assert f"[volumes.{project.name}_db_data]" in project.stack_file.read_text()
    project.compose("down")  # not -v: the data volume stays
    project.hostform("apply", "hostform.toml", "--auto-approve")
    moved = project.api.inspect_container(f"{project.name}-db")
    assert _exec(project.api, moved["Id"], "cat /var/lib/postgresql/data/marker") == "kept\n"
    again = project.hostform("plan", "hostform.toml", "--detailed-exitcode", check=False)
    assert again.code == 0, again.both
    project.hostform("destroy", "hostform.toml", "--auto-approve")
    names = {v["Name"] for v in project.api.volumes().get("Volumes") or []}
    assert f"{project.name}_db_data" in names, "destroy removed a volume the stack does not own"
    project.api.remove_volume(f"{project.name}_db_data")


def _exec(api: Any, container: str, script: str) -> str:
    run = api.exec_create(container, ["sh", "-c", script])
    out: bytes = api.exec_start(run["Id"])
    assert api.exec_inspect(run["Id"])["ExitCode"] == 0, out
    return out.decode()
