"""What the agent's integration tests run it against: real git repositories (a bare one on disk,
one served over HTTP by `git http-backend` behind a small WSGI wrapper on loopback), the agent as
a real process, and a local HTTP receiver for its notifications."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from tests.integration.test_convergence_support import unusual_port

GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.test",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.test",
}


free_port = unusual_port  # the agent's and receivers' listening ports


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, check=True, env={**os.environ, **GIT_ENV}, timeout=60
    )
    return done.stdout.strip()


@dataclass
class Repo:
    """A bare repository (`origin`) and a working clone that commits and pushes to it."""

    origin: Path
    work: Path
    branch: str = "main"

    @classmethod
    def make(cls, folder: Path, branch: str = "main") -> Repo:
        origin, work = folder / "origin.git", folder / "work"
        git("init", "-q", "--bare", f"--initial-branch={branch}", str(origin))
        git("init", "-q", f"--initial-branch={branch}", str(work))
        git("remote", "add", "origin", str(origin), cwd=work)
        return cls(origin, work, branch)

    def commit(
        self, message: str, files: dict[str, str] | None = None, remove: tuple[str, ...] = (), sign: Path | None = None
    ) -> str:
        """`sign`: an SSH private key to sign the commit with."""
        for rel, text in (files or {}).items():
            path = self.work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        for rel in remove:
            git("rm", "-r", "-q", rel, cwd=self.work)
        git("add", "-A", cwd=self.work)
        signing = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={sign}"] if sign else []
        git(*signing, "commit", "-q", "--allow-empty", *(["-S"] if sign else []), "-m", message, cwd=self.work)
        git("push", "-q", "origin", f"HEAD:{self.branch}", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


class GitHTTP:
    """`git http-backend` (smart HTTP) for the repositories under `root`, on a loopback port."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()

        class Quiet(WSGIRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Threaded(WSGIServer):
            daemon_threads = True

        self.server = make_server("127.0.0.1", self.port, self.app, server_class=Threaded, handler_class=Quiet)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"

    def app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        env = {
            **{k: v for k, v in os.environ.items() if k in ("PATH", "HOME")},
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "PATH_INFO": environ.get("PATH_INFO", ""),
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
        }
        if environ.get("HTTP_GIT_PROTOCOL"):
            env["GIT_PROTOCOL"] = environ["HTTP_GIT_PROTOCOL"]
        done = subprocess.run(["git", "http-backend"], input=body, capture_output=True, env=env, timeout=60)
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        status, headers = "200 OK", []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = value.strip()
            elif key:
                headers.append((key, value.strip()))
        start_response(status, headers)
        return [payload]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Receiver:
    """A local HTTP server keeping every JSON body POSTed to it."""

    port: int = field(default_factory=free_port)
    bodies: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        bodies = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                bodies.append(json.loads(data))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def events(self, event: str, stack: str | None = None) -> list[dict[str, Any]]:
        return [b for b in list(self.bodies) if b["event"] == event and (stack is None or b["stack"] == stack)]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class AgentProcess:
    """`hostform agent` as a process; stopped with SIGTERM."""

    config: Path
    port: int
    env: dict[str, str]
    proc: subprocess.Popen[str] | None = None
    log: Path | None = None

    def start(self) -> AgentProcess:
        self.log = self.config.with_suffix(".log")
        out = self.log.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "hostform.plans.cli", "agent", str(self.config)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, **self.env},
        )
        wait_for(lambda: "listening on" in self.output() or self.proc.poll() is not None, 30, "the agent to listen")  # type: ignore[union-attr]
        assert self.proc.poll() is None, self.output()
        return self

    def output(self) -> str:
        return self.log.read_text() if self.log and self.log.exists() else ""

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=10) as answer:
                return answer.status, answer.read(), dict(answer.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        request = urllib.request.Request(self.url(path), data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def status(self) -> dict[str, Any]:
        code, data, _ = self.get("/status")
        assert code == 200, data
        result: dict[str, Any] = json.loads(data)
        return result

    def stack(self, name: str) -> dict[str, Any] | None:
        return next((s for s in self.status()["stacks"] if s["name"] == name), None)

    def wait_stack(self, name: str, check: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        def ready() -> bool:
            found = self.stack(name)
            seen["last"] = found
            return found is not None and check(found)

        wait_for(ready, timeout, f"stack {name}: {{}}", lambda: f"{seen.get('last')}\n{self.output()[-3000:]}")
        return seen["last"]  # type: ignore[no-any-return]

    def stop(self, timeout: float = 120) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def wait_for(ready: Callable[[], bool], timeout: float, what: str, detail: Callable[[], str] = lambda: "") -> float:
    """Seconds until `ready()`; fails after `timeout`."""
    started = time.monotonic()
    while not ready():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what.format(detail())}")
        time.sleep(0.1)
    return time.monotonic() - started


def stack_file(name: str, greeting: str = "hello", extra: str = "") -> str:
    return (
        f'[stack]\nname = "{name}"\n\n[containers.web]\nimage = "hostform-test/busybox:1"\n'
        f'command = ["sleep", "600"]\nstop_signal = "SIGKILL"\nenv = {{ GREETING = "{greeting}" }}\n{extra}'
    )


def agent_config(
    folder: Path, port: int, sources: list[dict[str, Any]], receiver: Receiver | None, interval: str = "5s"
) -> Path:
    import tomli_w

    doc: dict[str, Any] = {"listen": f"127.0.0.1:{port}", "interval": interval, "cache": str(folder / "cache")}
    doc["sources"] = sources
    if receiver is not None:
        doc["notify"] = {"webhook": receiver.url}
    path = folder / "agent.toml"
    path.write_text(tomli_w.dumps(doc))
    return path


def running(names: Iterator[str] | list[str], api: Any) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = api.inspect_container(name)["State"]["Status"]
        except Exception:  # noqa: BLE001 - not there
            out[name] = "missing"
    return out
