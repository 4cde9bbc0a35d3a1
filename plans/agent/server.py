"""The agent's HTTP side (the standard library's threaded server: four routes need no framework).

    GET  /           the status page (templates/agent.html.j2: server-rendered, no script, no
                     external asset, every string escaped by Jinja2's autoescape)
    GET  /status     the stacks as JSON
    GET  /metrics    Prometheus text format
    POST /hooks/git  a push: X-Hub-Signature-256 (GitHub, Gitea: HMAC-SHA256 of the body) or
                     X-Gitlab-Token, checked in constant time against each source's secret;
                     wrong or missing: 401 and nothing happens; right: that source syncs now

A request body is read only up to the configured bound (413 beyond it). No secret is ever shown.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jinja2

from hostform.plans.agent.metrics import CONTENT_TYPE, Metrics
from hostform.plans.agent.status import Board, State

HEADER_HUB = "X-Hub-Signature-256"
HEADER_GITLAB = "X-Gitlab-Token"
READ_TIMEOUT = 10.0  # seconds a client may take to send its request


class Site:
    """What the handler serves: the board, the metrics, the sources' secrets and how to trigger them."""

    def __init__(
        self,
        board: Board,
        metrics: Metrics,
        secrets: dict[str, bytes],
        trigger: Callable[[list[str]], None],
        sources: Callable[[], list[dict[str, Any]]],
        max_body: int,
    ) -> None:
        self.board = board
        self.metrics = metrics
        self.secrets = secrets  # source name -> webhook secret
        self.trigger = trigger
        self.sources = sources
        self.max_body = max_body
        self._templates = jinja2.Environment(
            loader=jinja2.PackageLoader("hostform.templates", ""),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )

    def status(self) -> dict[str, Any]:
        return {"sources": self.sources(), "stacks": [s.public() for s in self.board.all()]}

    def page(self) -> str:
        stacks = self.board.all()
        counts = {state.value: sum(s.state is state for s in stacks) for state in State}
        template = self._templates.get_template("agent.html.j2")
        return template.render(stacks=stacks, sources=self.sources(), counts=counts)

    def signed_by(self, body: bytes, headers: Any) -> list[str]:
        """The sources whose secret signed the request (none: it is refused)."""
        hub = headers.get(HEADER_HUB) or ""
        token = headers.get(HEADER_GITLAB) or ""
        matched = []
        for name, secret in self.secrets.items():
            if hub.startswith("sha256="):
                expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
                if hmac.compare_digest(expected.encode(), hub.encode()):
                    matched.append(name)
            elif token and hmac.compare_digest(secret, token.encode()):
                matched.append(name)
        return matched


def make_server(address: tuple[str, int], site: Site) -> ThreadingHTTPServer:
    class Handler(_Handler):
        pass

    Handler.site = site
    server = ThreadingHTTPServer(address, Handler)
    server.daemon_threads = True
    return server


class _Handler(BaseHTTPRequestHandler):
    site: Site
    server_version = "hostform-agent"
    sys_version = ""
    timeout = READ_TIMEOUT

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        path = self.path.split("?", 1)[0]
        if path == "/status":
            self._send(HTTPStatus.OK, "application/json", json.dumps(self.site.status(), indent=2).encode())
        elif path == "/metrics":
            self._send(HTTPStatus.OK, CONTENT_TYPE, self.site.metrics.render())
        elif path == "/":
            self._send(HTTPStatus.OK, "text/html; charset=utf-8", self.site.page().encode())
        else:
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")

    def do_POST(self) -> None:  # noqa: N802
        if self.path.split("?", 1)[0] != "/hooks/git":
            self._send(HTTPStatus.NOT_FOUND, "text/plain", b"not found\n")
            return
        body = self._body()
        if body is None:
            return
        matched = self.site.signed_by(body, self.headers)
        if not matched:
            self._send(HTTPStatus.UNAUTHORIZED, "text/plain", b"signature missing or wrong\n")
            return
        self.site.trigger(matched)
        self._send(HTTPStatus.ACCEPTED, "application/json", json.dumps({"syncing": matched}).encode())

    def _body(self) -> bytes | None:
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            self._send(HTTPStatus.LENGTH_REQUIRED, "text/plain", b"Content-Length required\n")
            return None
        length = int(length_text)
        if length > self.site.max_body:
            self.close_connection = True
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "text/plain", b"request body too large\n")
            return None
        return self.rfile.read(length)

    def _send(self, status: HTTPStatus, content_type: str, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        if content_type.startswith("text/html"):
            self.send_header("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request would flood the journal: /metrics is scraped every few seconds


def serve(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="hostform-http", daemon=True)
    thread.start()
    return thread


__all__ = ["Site", "make_server", "serve"]
