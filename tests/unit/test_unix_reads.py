"""runtime.unix_reads against a socket of the test's own that answers what an engine never
should (the real engine's answers and errors: tests/integration/test_engine_reads.py): nothing
is followed, an answer too big is refused before it is read, a silent engine times out, a
kept-alive connection the other side closed is opened again, chunked bodies are joined."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hostform.declare.errors import ConflictError, EngineError, EngineUnreachable, ImageMissing, NotFound
from hostform.runtime import unix_reads
from hostform.runtime.engine import Engine

Answer = Callable[[bytes], bytes | None]  # the request's bytes -> the answer (None: close, no answer)


class FakeEngine:
    """A unix socket answering each request on a connection with `answer`, one connection at a time."""

    def __init__(self, path: Path, answer: Answer, close_after: bool = False) -> None:
        self.path, self.answer, self.close_after = path, answer, close_after
        self.requests: list[bytes] = []
        self.connections = 0
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(4)
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                self._talk(conn)

    def _talk(self, conn: socket.socket) -> None:
        data = b""
        while True:
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                data += chunk
            request, _, data = data.partition(b"\r\n\r\n")
            self.requests.append(request)
            reply = self.answer(request)
            if reply is None:
                return
            try:
                conn.sendall(reply)
            except OSError:  # the client gave up waiting
                return
            if self.close_after:
                return


def http(status: str, body: bytes, *headers: str) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[Callable[..., tuple[FakeEngine, Engine]]]:
    made: list[FakeEngine] = []

    def make(answer: Answer, close_after: bool = False, timeout: int = 5) -> tuple[FakeEngine, Engine]:
        server = FakeEngine(tmp_path / f"e{len(made)}.sock", answer, close_after)
        made.append(server)
        return server, Engine(f"unix://{server.path}", timeout=timeout)

    yield make
    for server in made:
        server.server.close()


def test_statuses_map_as_the_sdks_do(fake: Callable[..., tuple[FakeEngine, Engine]]) -> None:
    answers = {
        b"/v1.41/containers/a/json": http("404 Not Found", b'{"message": "No such container: a"}'),
        b"/v1.41/images/b/json": http("404 Not Found", b'{"message": "No such image: b:latest"}'),
        b"/v1.41/networks/c": http("409 Conflict", b'{"message": "taken"}'),
        b"/v1.41/networks/d": http("500 Internal Server Error", b"plain words\n"),
        b"/v1.41/networks/e": http("503 Service Unavailable", b""),
    }
    server, engine = fake(lambda req: answers[req.split(b" ")[1]])
    assert engine.inspect_container("a") is None
    with pytest.raises(ImageMissing) as missing:
        engine.call("inspect image b", engine._reads.get, "/images/b/json")  # type: ignore[union-attr]
    assert str(missing.value) == "inspect image b: No such image: b:latest" and missing.value.status == 404
    with pytest.raises(ConflictError, match="^inspect network c: taken$"):
        engine.network_members("c")
    with pytest.raises(EngineError, match="^inspect network d: plain words$") as plain:
        engine.network_members("d")
    assert type(plain.value) is EngineError and plain.value.status == 500
    with pytest.raises(EngineError, match="503 Server Error for http\\+docker://localhost/v1.41/networks/e"):
        engine.network_members("e")
    assert issubclass(NotFound, EngineError) and server.connections == 1  # one kept-alive connection
    assert engine._api is None


def test_nothing_is_followed(fake: Callable[..., tuple[FakeEngine, Engine]]) -> None:
    moved = http("301 Moved Permanently", b"", "Location: http://example.com/v1.41/_ping")
    server, engine = fake(lambda req: moved)
    with pytest.raises(EngineError, match="301"):
        engine.ping()
    assert len(server.requests) == 1


def test_an_answer_over_the_limit_is_refused_unread(
    fake: Callable[..., tuple[FakeEngine, Engine]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(unix_reads, "MAX_ANSWER", 1000)
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000000\r\n\r\n["
    chunks = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"200\r\n" + b"[" * 512 + b"\r\n" + b"200\r\n"
    chunks += b" " * 512 + b"\r\n0\r\n\r\n"
    for reply in (big, chunks):
        _, engine = fake(lambda req, reply=reply: reply)
        with pytest.raises(EngineError, match="over 1000 bytes: refused"):
            engine.list_containers()


def test_chunked_answers_and_reopened_connections(fake: Callable[..., tuple[FakeEngine, Engine]]) -> None:
    body = b'[{"Id": "x"}]'
    chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + 4]), body[i : i + 4]) for i in range(0, len(body), 4))
    chunked += b"0\r\n\r\n"
    server, engine = fake(lambda req: chunked, close_after=True)  # closes kept-alive connections
    for _ in range(3):
        assert engine.list_containers() == [{"Id": "x"}]
    assert server.connections == 3
    assert engine.list_containers(label="a=b") == [{"Id": "x"}]
    assert b"filters=%7B%22label%22%3A+%5B%22a%3Db%22%5D%7D" in server.requests[-1]  # as the SDK writes it


def test_a_silent_engine_times_out_and_a_closed_one_is_unreachable(
    fake: Callable[..., tuple[FakeEngine, Engine]],
) -> None:
    stop = threading.Event()
    _, silent = fake(lambda req: b"" if stop.wait(10) else None, timeout=1)
    with pytest.raises(EngineError, match="^list containers: timed out$") as slow:
        silent.list_containers()
    assert type(slow.value) is EngineError
    stop.set()
    _, closing = fake(lambda req: None)
    with pytest.raises(EngineUnreachable, match="cannot reach the Docker engine at unix://.*closed the connection"):
        closing.list_containers()
    _, garbage = fake(lambda req: b"SSH-2.0-OpenSSH\r\n\r\n")
    with pytest.raises(EngineError, match="not an HTTP answer"):
        garbage.list_containers()
    _, not_json = fake(lambda req: http("200 OK", b"<html>"))
    with pytest.raises(EngineError, match="not JSON"):
        not_json.list_containers()


def test_the_current_docker_context_is_read_without_the_sdk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from hostform.runtime.engine import engine_address, may_hold_credentials

    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert engine_address(None) == "unix:///var/run/docker.sock"  # no config at all
    (tmp_path / "config.json").write_text('{"currentContext": "default", "proxies": {}}')
    assert engine_address(None) == "unix:///var/run/docker.sock"
    assert engine_address("tcp://h:1") == "tcp://h:1"
    sdk_loaded = "docker" in sys.modules
    (tmp_path / "config.json").write_text('{"currentContext": "elsewhere"}')
    assert engine_address(None) is None  # a context of one's own, through the SDK's ContextAPI: not there
    assert "docker" in sys.modules or sdk_loaded
    assert not may_hold_credentials({}) and not may_hold_credentials({"currentContext": "x", "proxies": {}})
    held = ({"auths": {"r": {}}}, {"credsStore": "pass"}, {"credHelpers": {"r": "x"}}, {"r": {"auth": "x"}}, None)
    for config in held:
        assert may_hold_credentials(config), config
