"""Engines over ssh://: the system's `ssh` runs `docker system dial-stdio` on the far side.

Why the system client and not paramiko: `ssh` is what the docker CLI itself runs, so
everything an operator set up for it works as is: ~/.ssh/config (Host aliases, ProxyJump,
Match, IdentityFile, certificates), agents, hardware keys, known_hosts. paramiko reads a
few of those keys only, refuses unknown hosts differently and adds four compiled
dependencies and ~100 ms of import to every command. The docker SDK cannot do without
paramiko (its ssh module imports it even for `use_ssh_client`), and with `use_ssh_client`
it starts a new `ssh` for every request; here each connection of the pool is one `ssh`
process, kept alive (HTTP keep-alive over dial-stdio) for the whole command, so a command
pays one handshake per parallel worker, not one per engine call.

Each connection is a socket pair: `ssh` reads and writes one end, urllib3 the other, so
timeouts and reads behave as on any socket.
"""

from __future__ import annotations

import signal
import socket
import subprocess
from typing import Any
from urllib.parse import urlsplit

import requests.adapters
import urllib3
import urllib3.connection
import urllib3.connectionpool

from hostform.declare.errors import EngineError

MOUNT = "http+docker://ssh"


def ssh_argv(address: str) -> list[str]:
    """`ssh [-l user] [-p port] -- host docker system dial-stdio` for ssh://[user@]host[:port]."""
    parts = urlsplit(address)
    try:
        port = parts.port
    except ValueError:
        raise EngineError(f"engine address {address!r}: the port is not a number") from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.password:
        raise EngineError(f"engine address {address!r}: expected ssh://[user@]host[:port]")
    argv = ["ssh"]
    if parts.username:
        argv += ["-l", parts.username]
    if port:
        argv += ["-p", str(port)]
    return [*argv, "--", parts.hostname, "docker system dial-stdio"]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _SSHConnection(urllib3.connection.HTTPConnection):
    def __init__(self, argv: list[str], timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._argv = argv
        self._timeout = timeout
        self._proc: subprocess.Popen[bytes] | None = None

    def connect(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            # stderr and the terminal stay the user's: ssh's own words (host key, permission denied)
            # are the clearest, and it may ask for a passphrase. Ctrl-C is the applier's to handle:
            # ssh ignores it, so the actions in flight can finish.
            self._proc = subprocess.Popen(
                self._argv, stdin=theirs.fileno(), stdout=theirs.fileno(), preexec_fn=_ignore_sigint
            )
        except OSError as exc:
            ours.close()
            raise urllib3.exceptions.NewConnectionError(self, f"cannot run ssh: {exc}") from None
        finally:
            theirs.close()
        ours.settimeout(self._timeout)
        self.sock = ours

    def close(self) -> None:
        super().close()  # our end closed: ssh reads EOF, the far side's dial-stdio ends, ssh exits
        proc, self._proc = self._proc, None
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.terminate()
                proc.wait()


class _SSHConnectionPool(urllib3.connectionpool.HTTPConnectionPool):
    def __init__(self, argv: list[str], timeout: float, maxsize: int) -> None:
        super().__init__("localhost", timeout=timeout, maxsize=maxsize)
        self._argv = argv
        self._seconds = timeout

    def _new_conn(self) -> urllib3.connection.HTTPConnection:
        return _SSHConnection(self._argv, self._seconds)


class SSHAdapter(requests.adapters.HTTPAdapter):
    """One pool of kept-alive `ssh` connections for the command (requests asks for a pool per request)."""

    def __init__(self, address: str, timeout: float, max_pool_size: int) -> None:
        super().__init__()
        self._pool = _SSHConnectionPool(ssh_argv(address), timeout, max_pool_size)

    def get_connection(self, url: Any, proxies: Any = None) -> urllib3.connectionpool.HTTPConnectionPool:
        return self._pool

    def get_connection_with_tls_context(self, request: Any, verify: Any, proxies: Any = None, cert: Any = None) -> Any:
        return self._pool

    def request_url(self, request: Any, proxies: Any) -> str:
        return str(request.path_url)

    def close(self) -> None:
        super().close()
        self._pool.close()
