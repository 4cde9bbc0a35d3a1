"""A Docker engine of the tests' own, for what must never run on the shared one (`docker system
prune`, an engine restart): its own dockerd in a network namespace made here, with its own data
root, exec root, pid file and unix socket, the test images loaded from the shared engine.

Started once per session (the `private_engine` fixture in conftest.py) and stopped by its pid at
the end; its containers are removed first, its mounts unmounted, its folder and namespace deleted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.integration.remote_engines import need

IMAGES = ("hostform-test/busybox:1",)


@dataclass
class PrivateEngine:
    root: Path  # short: the exec root's sockets must fit in a unix socket path
    netns: str
    api: Any = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def socket(self) -> Path:
        return self.root / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def env(self) -> dict[str, str]:
        """For hostform and the docker CLI: this engine, not the shared one."""
        return {"DOCKER_HOST": self.url}

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """The engine's own CLI against this engine."""
        return subprocess.run(
            ["docker", "-H", self.url, *args], capture_output=True, text=True, check=check, timeout=120
        )

    def start(self) -> None:
        dockerd = need("dockerd")
        log = (self.root / "dockerd.log").open("ab")
        argv = [
            need("nsenter"), f"--net=/run/netns/{self.netns}",
            dockerd,
            "-H", self.url,
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "exec"),
            "--pidfile", str(self.root / "dockerd.pid"),
            "--bridge", "none",
            "--iptables=false",
            "--ip-masq=false",
        ]  # fmt: skip
        # nsenter execs dockerd: the pid is dockerd's
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        self._wait_answering()

    def _wait_answering(self, seconds: float = 60) -> None:
        import docker

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise AssertionError(f"private dockerd exited:\n{self.log_tail()}")
            with contextlib.suppress(Exception):
                api = docker.APIClient(base_url=self.url, version="1.41", timeout=60)
                api.ping()
                self.api = api
                return
            time.sleep(0.2)
        raise AssertionError(f"private dockerd does not answer after {seconds}s:\n{self.log_tail()}")

    def log_tail(self) -> str:
        return (self.root / "dockerd.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """SIGTERM to dockerd by its pid, then wait for it (containers stop as their stop signal says)."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def load_images(self, shared: Any) -> None:
        for image in IMAGES:
            self.api.load_image(shared.get_image(image))

    def clear(self) -> None:
        """Everything on this engine but its images: a test starts from an empty engine."""
        api = self.api
        for c in api.containers(all=True):
            api.remove_container(c["Id"], force=True)
        for v in api.volumes().get("Volumes") or []:
            with contextlib.suppress(Exception):
                api.remove_volume(v["Name"], force=True)
        for n in api.networks():
            if n["Name"] not in ("bridge", "host", "none"):
                with contextlib.suppress(Exception):
                    api.remove_network(n["Id"])


@contextlib.contextmanager
def private_engine(shared: Any) -> Iterator[PrivateEngine]:
    ip = need("ip")
    root = Path(tempfile.mkdtemp(prefix="hfpe-", dir="/tmp"))
    netns = f"hfpe{uuid.uuid4().hex[:8]}"
    subprocess.run([ip, "netns", "add", netns], check=True, capture_output=True)
    subprocess.run([ip, "-n", netns, "link", "set", "lo", "up"], check=True, capture_output=True)
    engine = PrivateEngine(root, netns)
    try:
        engine.start()
        engine.load_images(shared)
        yield engine
    finally:
        with contextlib.suppress(Exception):
            if engine.api is not None and engine.proc is not None:
                for c in engine.api.containers(all=True):
                    engine.api.remove_container(c["Id"], force=True)
        engine.stop()
        mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
        for m in sorted((m for m in mounts if m.startswith(f"{root}/")), reverse=True):
            subprocess.run(["umount", "-l", m], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([ip, "netns", "del", netns], check=False, capture_output=True)
