"""The engine's read calls over its local unix socket, with the standard library only.

A no-op plan or drift on the local engine only reads (GET): this client spares it importing the
docker SDK, requests and urllib3 (and http.client's ssl and email parser). runtime.engine sends
writes, streams and every remote engine through the SDK. It speaks the HTTP/1.1 the engine
answers in: kept-alive connections (each used by one thread at a time), bodies by Content-Length
or chunked, nothing ever followed (a redirect is an error, like any status other than 200), and
an answer over MAX_ANSWER bytes an error rather than memory. Errors are raised as the socket gives
them (OSError) or as EngineAnswer; runtime.engine.translated maps both like the SDK's.
"""

from __future__ import annotations

import json
import socket
import threading
from typing import Any, BinaryIO
from urllib.parse import urlencode

MAX_ANSWER = 64 << 20  # a listing of 1,000 containers is ~5 MB; the Swarm record's configs at most ~14 MB
MAX_LINE = 64 << 10  # a status line, a header or a chunk-size line
MAX_FIELDS = 100


class EngineAnswer(Exception):
    """The engine answered with an error `status` (its `message`), or with no HTTP answer (status None)."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class AnswerTooBig(EngineAnswer):
    """An answer over the size its caller allows, refused before (or as soon as) it is over."""


class UnixReads:
    """GETs to the engine at the unix socket `path`, under the API version `version`."""

    def __init__(self, path: str, timeout: float, version: str) -> None:
        self.path = path
        self.timeout = timeout
        self.prefix = f"/v{version}"
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The JSON answer to GET `path` (under the API version) with `params` in its query."""
        try:
            return json.loads(self.raw(path, params))
        except ValueError as exc:  # UnicodeDecodeError included
            raise EngineAnswer(None, f"the engine's answer is not JSON: {exc}") from None

    def raw(self, path: str, params: dict[str, Any] | None = None, limit: int | None = None) -> bytes:
        """The body of a 200 answer; any other status raises EngineAnswer with the engine's message.
        A body over `limit` bytes (MAX_ANSWER when not given) raises AnswerTooBig."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        target = self.prefix + path + (f"?{urlencode(query)}" if query else "")
        status, reason, body = self._exchange(target, limit or MAX_ANSWER)
        if status != 200:
            raise EngineAnswer(status, _message(status, reason, body, target))
        return body

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    def _exchange(self, target: str, limit: int) -> tuple[int, str, bytes]:
        request = (
            f"GET {target} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: hostform\r\nAccept: application/json\r\n\r\n"
        ).encode("latin-1")
        conn = self._take()
        try:
            try:
                answer = conn.exchange(request, limit)
            except _Stale:  # the engine closed a kept-alive connection meanwhile: once more on a new one
                conn.close()
                conn = _Connection(self.path, self.timeout)
                answer = conn.exchange(request, limit)
        except BaseException:
            conn.close()
            raise
        status, reason, body, keep = answer
        if keep:
            with self._lock:
                self._idle.append(conn)
        else:
            conn.close()
        return status, reason, body

    def _take(self) -> _Connection:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return _Connection(self.path, self.timeout)


class _Stale(Exception):
    """A kept-alive connection the engine had closed: nothing of the answer was read."""


class _Connection:
    def __init__(self, path: str, timeout: float) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock
        self.file: BinaryIO = sock.makefile("rb")
        self.used = False
        self.limit = MAX_ANSWER

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def exchange(self, request: bytes, limit: int) -> tuple[int, str, bytes, bool]:
        """Status, reason, body, and whether the connection may carry the next request."""
        reused, self.used, self.limit = self.used, True, limit
        try:
            self.sock.sendall(request)
            first = self.file.readline(MAX_LINE + 1)
        except (BrokenPipeError, ConnectionResetError):
            if reused:
                raise _Stale() from None
            raise
        if not first:
            if reused:
                raise _Stale()
            raise ConnectionResetError("the engine closed the connection without answering")
        version, status, reason = _status_line(first)
        fields = self._fields()
        while 100 <= status < 200:  # an interim answer: the real one follows
            version, status, reason = _status_line(self.file.readline(MAX_LINE + 1))
            fields = self._fields()
        body, until_close = self._body(status, fields)
        keep = not until_close and version == "HTTP/1.1" and fields.get("connection", "").lower() != "close"
        return status, reason, body, keep

    def _fields(self) -> dict[str, str]:
        fields: dict[str, str] = {}
        for _ in range(MAX_FIELDS):
            line = self._line()
            if not line.strip():
                return fields
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise EngineAnswer(None, f"malformed header in the engine's answer: {line[:80]!r}")
            fields[name.strip().lower()] = value.strip()
        raise EngineAnswer(None, f"the engine's answer has over {MAX_FIELDS} headers")

    def _body(self, status: int, fields: dict[str, str]) -> tuple[bytes, bool]:
        """The body, and whether it ran until the engine closed the connection."""
        if status in (204, 304):
            return b"", False
        if "chunked" in fields.get("transfer-encoding", "").lower():
            return self._chunked(), False
        if "content-length" in fields:
            try:
                size = int(fields["content-length"])
            except ValueError:
                raise EngineAnswer(None, f"bad Content-Length {fields['content-length']!r}") from None
            return self._exact(size), False
        body = self.file.read(self.limit + 1)
        self._within(len(body))
        return body, True

    def _chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self._line()
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise EngineAnswer(None, f"bad chunk size {line[:40]!r} in the engine's answer") from None
            if size == 0:
                while self._line().strip():  # trailer fields, if any
                    pass
                return b"".join(parts)
            total += size
            self._within(total)
            parts.append(self._exact(size))
            self._line()  # the CRLF after the chunk

    def _exact(self, size: int) -> bytes:
        self._within(size)
        data = self.file.read(size)
        if len(data) < size:
            raise EngineAnswer(None, "the engine's answer was cut short")
        return data

    def _within(self, size: int) -> None:
        if size > self.limit:
            over = f"{self.limit >> 20} MiB" if self.limit >= 1 << 20 else f"{self.limit} bytes"
            raise AnswerTooBig(None, f"the engine's answer is over {over}: refused")

    def _line(self) -> bytes:
        line = self.file.readline(MAX_LINE + 1)
        if not line:
            raise EngineAnswer(None, "the engine's answer was cut short")
        if len(line) > MAX_LINE:
            raise EngineAnswer(None, f"a line of the engine's answer is over {MAX_LINE} bytes")
        return line


def _status_line(line: bytes) -> tuple[str, int, str]:
    parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise EngineAnswer(None, f"not an HTTP answer from the engine: {line[:80]!r}")
    return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else ""


def _message(status: int, reason: str, body: bytes, target: str) -> str:
    """The engine's `message`, as the SDK takes it (its body's text otherwise; its status line
    when the body says nothing)."""
    text = body.decode("utf-8", "replace")
    try:
        found = json.loads(text)["message"]
    except (ValueError, TypeError, KeyError):
        found = text.strip()
    if found:
        return str(found)
    side = "Client" if status < 500 else "Server"
    return f"{status} {side} Error for http+docker://localhost{target}: {reason}"
