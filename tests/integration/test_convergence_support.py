"""Shared pieces of the "safe convergence" integration tests (no tests here).

- `convergence_stack` (autouse where imported): after each test, removes the
  stack's lock container, which carries no stack label and so escapes the
  conftest's label cleanup;
- `IMAGE`: a private tag of the busybox test image, so a rebuild of
  `hostform-test/busybox:1` by `scripts/engine-up` during a run cannot turn
  into an image replacement in the middle of a test;
- a background `hostform apply --json` whose events can be awaited, for the
  tests that interrupt, race or watch an apply.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pytest

from hostform.runtime.lock import lock_name
from tests.integration.conftest import BUSYBOX, StackFixture

IMAGE = "hostform-conv/busybox:1"
TEMP_MARKERS = ("--new-", "--old-")

# A container that sleeps; killed at once on stop so tests stay fast.
SLEEPER = f'image = "{IMAGE}"\ncommand = ["sleep", "600"]\nstop_signal = "SIGKILL"\n'


def health(test: str, retries: int = 3, start_period: str = "") -> str:
    """A healthcheck line with fast settings: a probe every 200ms."""
    extra = f', start_period = "{start_period}"' if start_period else ""
    return f'healthcheck = {{ test = {test}, interval = "200ms", timeout = "1s", retries = {retries}{extra} }}\n'


# An HTTP server printing $VERSION, with a fast healthcheck.
HTTPD_COMMAND = '["sh", "-c", "mkdir -p /www && echo $VERSION > /www/index.html && exec httpd -f -p 8080 -h /www"]'
HTTP_PROBE = '["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]'
FAST_HTTP_HEALTH = health(HTTP_PROBE)
# Passes once /tmp/ready exists; failures before count for nothing during 10s.
READY_HEALTH = health('["CMD", "test", "-f", "/tmp/ready"]', start_period="10s")


@pytest.fixture(scope="session")
def conv_image(docker_api: Any) -> str:
    docker_api.tag(BUSYBOX, "hostform-conv/busybox", "1", force=True)
    return IMAGE


@pytest.fixture(autouse=True)
def convergence_stack(stack: StackFixture, conv_image: str) -> Iterator[None]:
    """Autouse where imported: every test here gets the stack and the private image
    (the stack fixture's cleanup removes a lock left behind too)."""
    yield


def lock_container(stack: StackFixture) -> str:
    return lock_name(stack.name)


def has_lock(stack: StackFixture) -> bool:
    return any(v["Name"] == lock_container(stack) for v in stack.record_volumes())


def names_of(stack: StackFixture) -> list[str]:
    return sorted(c["Names"][0].lstrip("/") for c in stack.containers())


def temporaries(stack: StackFixture) -> list[str]:
    return [n for n in names_of(stack) if any(m in n for m in TEMP_MARKERS)]


def exists(stack: StackFixture, engine_name: str) -> bool:
    return engine_name in names_of(stack)


def engine_time(stamp: str) -> float:
    """Docker's RFC 3339 nanosecond timestamps as epoch seconds (microsecond precision)."""
    head, _, frac = stamp.rstrip("Z").partition(".")
    text = f"{head}.{(frac + '000000')[:6]}+00:00"
    return datetime.fromisoformat(text).timestamp()


def started(info: dict[str, Any]) -> float:
    return engine_time(info["State"]["StartedAt"])


def env_of(info: dict[str, Any]) -> dict[str, str]:
    return dict(e.split("=", 1) for e in info["Config"]["Env"])


def events(out: str) -> list[dict[str, Any]]:
    """Every stdout line of `apply --json` parsed; fails on a line that is not JSON."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def http_get(port: int, timeout: float = 3.0) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=timeout) as resp:
        return str(resp.read().decode().strip())


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def unusual_port() -> int:
    """A free loopback port in 18000-29999, away from the ephemeral range other tests' clients use."""
    import random
    import socket

    for _ in range(50):
        port = random.randint(18000, 29999)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise AssertionError("no free port in 18000-29999")


def exec_out(stack: StackFixture, container: str, *cmd: str) -> str:
    api = stack.api
    ident = api.exec_create(container, list(cmd))["Id"]  # type: ignore[attr-defined]
    return str(api.exec_start(ident).decode().strip())  # type: ignore[attr-defined]


def wait_until(check: Any, timeout: float, what: str, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


@dataclass
class BackgroundApply:
    """`hostform apply --json` in a child process; its events arrive as they are printed."""

    proc: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[dict[str, Any]] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(target=self._pump_out, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    def _pump_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)

    def wait_event(self, kind: str, address: str | None = None, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.05)
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    break
                continue
            if line.strip().startswith("{"):
                event = json.loads(line)
                self.seen.append(event)
                if event.get("event") == kind and address in (None, event.get("address")):
                    return event
        where = address or "any address"
        raise AssertionError(f"no {kind!r} event for {where}; exit {self.proc.poll()}; stderr: {self.stderr}")

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def finish(self, timeout: float = 120) -> int:
        code = self.proc.wait(timeout=timeout)
        time.sleep(0.1)  # let the pumps drain
        while not self.lines.empty():
            line = self.lines.get()
            if line.strip().startswith("{"):
                self.seen.append(json.loads(line))
        return code

    @property
    def stderr(self) -> str:
        return "".join(self.err)

    def kinds(self, address: str) -> list[str]:
        return [e["event"] for e in self.seen if e.get("address") == address]


def apply_in_background(stack: StackFixture, *extra: str) -> BackgroundApply:
    proc = subprocess.Popen(
        [sys.executable, "-m", "hostform.plans.cli", "apply", str(stack.file), "--auto-approve", "--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=stack.dir,
        env={**os.environ, **stack.env},
    )
    return BackgroundApply(proc)


SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM}


@dataclass
class Terminal:
    """hostform with a pseudo-terminal (40 rows, 120 columns) as stdin, stdout and stderr."""

    proc: subprocess.Popen[bytes]
    master: int
    out: str = ""

    @classmethod
    def run(cls, stack: StackFixture, *args: str) -> Terminal:
        import fcntl
        import pty
        import struct
        import termios

        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        proc = subprocess.Popen(
            [sys.executable, "-m", "hostform.plans.cli", *args],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=stack.dir,
            env={**os.environ, **stack.env, "TERM": "xterm-256color"},
        )
        os.close(slave)
        return cls(proc, master)

    def _read(self, timeout: float) -> bool:
        import select

        if not select.select([self.master], [], [], timeout)[0]:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.out += chunk.decode(errors="replace")
        return bool(chunk)

    def wait_for(self, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.out:
            if time.monotonic() > deadline or not self._read(0.1):
                raise AssertionError(f"{text!r} never appeared on the terminal:\n{self.out}")

    def finish(self, timeout: float = 120) -> int:
        deadline = time.monotonic() + timeout
        while self._read(0.1) and time.monotonic() < deadline:
            pass
        os.close(self.master)
        return self.proc.wait(timeout=10)
