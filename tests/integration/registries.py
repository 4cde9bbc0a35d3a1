"""Registries and a pull-only engine for the image tests.

- a registry (Debian's docker-registry) that requires credentials (htpasswd, bcrypt);
- a second dockerd in a network namespace of the test's own (`hfimg-...`), started with
  `nsenter --net` (not `ip netns exec`, which remounts /sys), reaching the registry through a
  veth pair made here: inside the namespace 127.0.0.1:PORT is forwarded to the host end of
  the veth, where the registry's second listener is. Both engines name the registry
  127.0.0.1:PORT, which engines trust over plain HTTP.

Every process is one this module starts, stopped by its pid; the namespace and veth are removed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.integration.remote_engines import need, stop, wait_for_port
from tests.integration.test_convergence_support import free_port

FORWARD = Path(__file__).with_name("tcp_forward.py")
STALE_SECONDS = 1800  # a bed older than this with no process left in it was left by a killed run


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process goes away (killed by a timeout,
    say), so no dockerd, registry or forwarder of the test outlives it (PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))


def sweep_stale_beds() -> None:
    """Namespaces `hfimg-*` (and their data roots) that a killed run left: no process inside and
    older than STALE_SECONDS. A bed in use always has its dockerd inside."""
    import shutil as _shutil

    runs = Path("/run/netns")
    for ns in runs.glob("hfimg-*") if runs.is_dir() else []:
        pids = subprocess.run([need("ip"), "netns", "pids", ns.name], capture_output=True, text=True).stdout.split()
        if pids or time.time() - ns.stat().st_mtime < STALE_SECONDS:
            continue
        tag = ns.name.removeprefix("hfimg-")
        subprocess.run([need("ip"), "link", "del", f"hfimg{tag}h"], capture_output=True)
        subprocess.run([need("ip"), "netns", "del", ns.name], capture_output=True)
        _shutil.rmtree(f"/var/lib/hfimg-{tag}", ignore_errors=True)


@dataclass(frozen=True)
class Registry:
    address: str  # 127.0.0.1:PORT
    user: str
    password: str

    def docker_config(self, folder: Path, password: str | None = None) -> Path:
        """A Docker config folder (for DOCKER_CONFIG) holding credentials for this registry."""
        folder.mkdir(parents=True, exist_ok=True)
        token = base64.b64encode(f"{self.user}:{password or self.password}".encode()).decode()
        (folder / "config.json").write_text(json.dumps({"auths": {self.address: {"auth": token}}}))
        return folder

    def tags(self, repository: str) -> list[str]:
        path = repository.removeprefix(f"{self.address}/")
        request = urllib.request.Request(f"http://{self.address}/v2/{path}/tags/list")
        token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return list(json.load(resp).get("tags") or [])
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return []
            raise


def _registry_config(workdir: Path, storage: Path, addr: str, htpasswd: Path, name: str) -> Path:
    config = workdir / f"{name}.yml"
    config.write_text(
        f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
auth:
  htpasswd:
    realm: hostform-test
    path: {htpasswd}
http:
  addr: {addr}
"""
    )
    return config


@contextlib.contextmanager
def auth_registry(workdir: Path, extra_listen: str | None = None) -> Iterator[Registry]:
    """docker-registry with htpasswd auth on 127.0.0.1:<free port> (and on extra_listen's IP, same port,
    same storage: a second process serving the same files)."""
    import bcrypt

    registry_bin = need("docker-registry")
    workdir.mkdir(parents=True, exist_ok=True)
    user, password = "hostform", uuid.uuid4().hex
    htpasswd = workdir / "htpasswd"
    htpasswd.write_text(f"{user}:{bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()}\n")
    port = free_port()
    procs = []
    try:
        for i, ip in enumerate(["127.0.0.1", *([extra_listen] if extra_listen else [])]):
            config = _registry_config(workdir, workdir / "storage", f"{ip}:{port}", htpasswd, f"registry{i}")
            log = workdir / f"registry{i}.log"
            with open(log, "ab") as out:
                procs.append(
                    subprocess.Popen(
                        [registry_bin, "serve", str(config)], stdout=out, stderr=out, preexec_fn=_die_with_parent
                    )
                )
            if ip == "127.0.0.1":
                wait_for_port(port, procs[-1], log)
        yield Registry(f"127.0.0.1:{port}", user, password)
    finally:
        for proc in procs:
            stop(proc)


@dataclass(frozen=True)
class PullEngine:
    url: str  # unix:///...docker.sock
    netns: str


def _ip(*args: str) -> None:
    subprocess.run([need("ip"), *args], check=True, capture_output=True)


@contextlib.contextmanager
def netns_with_veth(tag: str) -> Iterator[tuple[str, str, str]]:
    """A network namespace `hfimg-TAG` with a veth pair: (netns, host-end IP, namespace-end IP)."""
    sweep_stale_beds()
    netns, host_if, ns_if = f"hfimg-{tag}", f"hfimg{tag}h", f"hfimg{tag}n"
    octet = int(tag[:2], 16) % 250 + 1
    host_ip, ns_ip = f"10.213.{octet}.1", f"10.213.{octet}.2"
    _ip("netns", "add", netns)
    try:
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", netns)
        _ip("addr", "add", f"{host_ip}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", netns, "addr", "add", f"{ns_ip}/30", "dev", ns_if)
        _ip("-n", netns, "link", "set", ns_if, "up")
        _ip("-n", netns, "link", "set", "lo", "up")
        yield netns, host_ip, ns_ip
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            _ip("link", "del", host_if)
        _ip("netns", "del", netns)


@contextlib.contextmanager
def pull_engine(workdir: Path, netns: str, registry_port: int, registry_ip: str) -> Iterator[PullEngine]:
    """A dockerd of its own in `netns` (own data, exec root, pidfile, unix socket), and inside the
    namespace a forwarder from 127.0.0.1:registry_port to the registry's address on the veth."""
    dockerd = need("dockerd")
    nsenter = need("nsenter")
    workdir.mkdir(parents=True, exist_ok=True)
    sock = workdir / "docker.sock"
    enter = [nsenter, f"--net=/run/netns/{netns}"]
    log = workdir / "dockerd.log"
    args = [
        *(dockerd, "-H", f"unix://{sock}", "--data-root", str(workdir / "data")),
        *("--exec-root", str(workdir / "exec"), "--pidfile", str(workdir / "dockerd.pid")),
        *("--bridge", "none", "--iptables=false", "--ip-masq=false", "--cgroup-parent", f"/{netns}"),
    ]
    forward_log = workdir / "forward.log"
    with open(forward_log, "ab") as out:
        forward = subprocess.Popen(
            [*enter, sys.executable, str(FORWARD), f"127.0.0.1:{registry_port}", f"{registry_ip}:{registry_port}"],
            stdout=subprocess.PIPE,
            stderr=out,
            preexec_fn=_die_with_parent,
        )
    with open(log, "ab") as out:
        engine = subprocess.Popen(
            [*enter, *args], stdout=out, stderr=out, start_new_session=True, preexec_fn=_die_with_parent
        )
    try:
        assert forward.stdout is not None and forward.stdout.readline().strip() == b"ready", forward_log.read_text()
        import docker

        deadline = time.monotonic() + 60
        while True:
            if engine.poll() is not None:
                raise AssertionError(f"dockerd in {netns} exited:\n{log.read_text(errors='replace')[-3000:]}")
            with contextlib.suppress(Exception):
                docker.APIClient(base_url=f"unix://{sock}", version="1.41", timeout=5).ping()
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"dockerd in {netns} does not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield PullEngine(f"unix://{sock}", netns)
    finally:
        stop(engine)  # nsenter execs dockerd: this pid is the dockerd we started
        stop(forward)
        shutil.rmtree(workdir, ignore_errors=True)  # its data root (nothing mounted once it stopped)


__all__ = ["PullEngine", "Registry", "auth_registry", "netns_with_veth", "pull_engine"]
