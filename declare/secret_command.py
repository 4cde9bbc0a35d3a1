"""A `[secrets.NAME] command`: a secret manager's CLI whose standard output is the value.

The command runs without a shell (the list is the argv), in the stack's folder, with its
standard input closed, a clean environment (PATH and HOME, so a CLI finds itself and its own
configuration, plus the names the operator lists in HOSTFORM_SECRET_COMMAND_ENV, comma
separated), a time limit and a limit on its output. Its standard error is never shown: a CLI
that fails may print the value, or part of it, there. One trailing newline of the output is
dropped. Never under --untrusted (the loader refuses the source before anything runs).
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

COMMAND_ENV = "HOSTFORM_SECRET_COMMAND_ENV"
BASE_ENV = ("PATH", "HOME")
MAX_OUTPUT = 1 << 20
DEFAULT_TIMEOUT = 30.0


class CommandFailed(Exception):
    """The command gave no value; the message says why and never holds its output."""


def command_environment(environ: Mapping[str, str]) -> dict[str, str]:
    allowed = [n.strip() for n in environ.get(COMMAND_ENV, "").split(",") if n.strip()]
    return {n: environ[n] for n in (*BASE_ENV, *allowed) if n in environ}


def run_command(argv: Sequence[str], cwd: Path, timeout: float, environ: Mapping[str, str]) -> str:
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=command_environment(environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: a timeout kills its children too
        )
    except OSError as exc:
        raise CommandFailed(f"cannot run {argv[0]!r}: {exc.strerror or type(exc).__name__}") from None
    deadline = time.monotonic() + timeout
    try:
        out = _bounded_read(proc, deadline, timeout)
        code = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        _kill(proc)
        raise CommandFailed(f"{argv[0]!r} did not finish within {timeout:g} s") from None
    except BaseException:
        _kill(proc)
        raise
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
    if code != 0:
        raise CommandFailed(
            f"{argv[0]!r} exited with status {code} (its error output is not shown, it may hold the value: "
            "run the command yourself to see it)"
        )
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError:
        raise CommandFailed(f"{argv[0]!r} printed something that is not UTF-8 text") from None
    return text.removesuffix("\n")


def _bounded_read(proc: subprocess.Popen[bytes], deadline: float, timeout: float) -> bytes:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    chunks: list[bytes] = []
    size = 0
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(proc.args, timeout)
            if not sel.select(left):
                continue
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > MAX_OUTPUT:
                raise CommandFailed(f"{proc.args[0]!r} printed more than {MAX_OUTPUT} bytes")  # type: ignore[index]
            chunks.append(chunk)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """The command's whole process group (before the leader is reaped, so its id is still ours)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
