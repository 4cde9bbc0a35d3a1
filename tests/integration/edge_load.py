"""Real HTTP load through the edge proxy for the tests and bench/proxy.py: a pool of threads
sending requests to a loopback port for a bounded time, counting answers and failures."""

from __future__ import annotations

import http.client
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

# The backend the tests run in hostform-test/debian:1: its version on `/`, 500 on `/health`
# when UNHEALTHY is set, and `/slow` answering after 5 seconds (a request in flight at a switch).
APP = """\
import os, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/health":
            code = 500 if os.environ.get("UNHEALTHY") else 200
            return self.answer(code, b"health\\n")
        if self.path.startswith("/slow"):
            time.sleep(5)
        return self.answer(200, (os.environ.get("VERSION", "?") + " " + self.path + "\\n").encode())

    def answer(self, code, body):
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer.request_queue_size = 128  # the default 5 drops connections in a burst
ThreadingHTTPServer(("0.0.0.0", 8000), Handler).serve_forever()
"""


def app_container(host: str, version: str, extra: str = "") -> str:
    """A [containers.web] table serving APP behind `host` (start-first, a 1 s health check)."""
    return f"""
[files.app]
content = '''
{APP}'''

[containers.web]
image = "hostform-test/debian:1"
command = ["python3", "/srv/app.py"]
files = [{{ source = "app", target = "/srv/app.py" }}]
env = {{ VERSION = "{version}" }}
route = {{ host = "{host}", port = 8000 }}
update = {{ order = "start-first" }}
healthcheck = {{ test = "curl -fsS -o /dev/null http://127.0.0.1:8000/health", interval = "1s", retries = 5 }}
stop_grace_period = "8s"
{extra}
"""


def get(port: int, host: str, path: str = "/", timeout: float = 15.0) -> tuple[int, str, float]:
    """One request through the proxy: (status, body, seconds)."""
    started = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace"), time.monotonic() - started
    finally:
        conn.close()


@dataclass
class Load:
    """Requests at about `rate` per second from `workers` threads until stopped (or `limit` s)."""

    port: int
    host: str
    rate: float = 50.0
    workers: int = 8
    limit: float = 120.0
    answers: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (start time, seconds)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=self.workers)
        self._futures: list[Future[None]] = []

    def _worker(self, index: int) -> None:
        interval = self.workers / self.rate
        deadline = time.monotonic() + self.limit
        next_at = time.monotonic() + index * interval / self.workers
        while not self._stop.is_set() and time.monotonic() < deadline:
            self._stop.wait(max(0.0, next_at - time.monotonic()))
            next_at += interval
            started = time.monotonic()
            try:
                status, body, took = get(self.port, self.host)
            except OSError as exc:
                with self._lock:
                    self.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            with self._lock:
                self.latencies.append((started, took))
                if status == 200:
                    self.answers[body.split(" ", 1)[0]] += 1
                else:
                    self.failures.append(f"HTTP {status}: {body.strip()[:80]}")

    def __enter__(self) -> Load:
        self._futures = [self._pool.submit(self._worker, i) for i in range(self.workers)]
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for f in self._futures:
            f.result()
        self._pool.shutdown()

    @property
    def total(self) -> int:
        return sum(self.answers.values()) + len(self.failures)
