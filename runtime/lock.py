"""One apply per stack at a time, held on the engine side.

The lock is a created (never started) container named `hostform.lock.<stack>`
(no declared name can produce it: a stack's containers are `<stack>-<name>`, and a
stack name holds no '.', so their first '.' always comes after a '-'):
the engine guarantees container names are unique, so two machines pointing at
one engine cannot both take it. Its labels say who holds it; a lock whose
holder died is reported, never silently broken (`hostform unlock`).
"""

from __future__ import annotations

import io
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from hostform.declare.errors import ConflictError, LockError
from hostform.declare.names import lock_name
from hostform.runtime import swarm_lock
from hostform.runtime.engine import Engine
from hostform.runtime.state import read_state

# fully qualified: Podman names an imported image localhost/..., Docker keeps the name as written
LOCK_IMAGE = "localhost/hostform/lock:1"
LABEL_LOCK = "io.hostform.lock"


@dataclass(frozen=True)
class LockInfo:
    stack: str
    holder_host: str
    holder_pid: int
    operation: str
    started_at: str

    def holder_alive(self) -> bool | None:
        """True/False when the holder ran on this machine; None when we cannot tell."""
        if self.holder_host != socket.gethostname():
            return None
        try:
            os.kill(self.holder_pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def describe(self) -> str:
        text = (
            f"stack {self.stack!r} is locked by {self.operation} started at {self.started_at} "
            f"on host {self.holder_host} (pid {self.holder_pid})"
        )
        if self.holder_alive() is False:
            text += "; that process is no longer running: run `hostform unlock` to break the lock"
        return text


def read_lock(engine: Engine, stack: str) -> LockInfo | None:
    if engine.swarm:
        labels = swarm_lock.read(engine, lock_name(stack))
    else:
        state = read_state(engine, lock_name(stack))
        labels = None if state is None else state.labels
    return lock_of(stack, labels)


def lock_of(stack: str, labels: dict[str, str] | None) -> LockInfo | None:
    """The lock its labels describe (None: no lock); `labels` of a lock read along with other
    reads (runtime.observe reads it in its first wave on a remote engine)."""
    if labels is None:
        return None
    if labels.get(LABEL_LOCK) != stack:
        raise LockError(f"container {lock_name(stack)!r} exists but is not a hostform lock; hostform will not touch it")
    return LockInfo(
        stack=stack,
        holder_host=labels.get("io.hostform.lock.host", "?"),
        holder_pid=int(labels.get("io.hostform.lock.pid", "0") or 0),
        operation=labels.get("io.hostform.lock.operation", "apply"),
        started_at=labels.get("io.hostform.lock.started", "?"),
    )


def ensure_lock_image(engine: Engine) -> None:
    """An empty image for containers that are never started (the lock, the record)."""
    if engine.image_id(LOCK_IMAGE) is not None:
        return
    import tarfile  # only to make the image: reading a lock (drift, a plan with changes) needs none

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("hostform-lock")
        info.size = 0
        tar.addfile(info, io.BytesIO(b""))
    # the tag goes in the repository parameter: Podman's import ignores a separate tag
    engine.call("make the lock image", engine.api.import_image_from_data, buf.getvalue(), repository=LOCK_IMAGE)


def acquire(engine: Engine, stack: str, operation: str, timeout: float = 0.0) -> None:
    if not engine.swarm:
        ensure_lock_image(engine)
    labels = {
        LABEL_LOCK: stack,
        "io.hostform.lock.host": socket.gethostname(),
        "io.hostform.lock.pid": str(os.getpid()),
        "io.hostform.lock.operation": operation,
        "io.hostform.lock.started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    deadline = time.monotonic() + timeout
    while True:
        try:
            if engine.swarm:  # a Swarm config: its creation is atomic and cluster-wide
                swarm_lock.create(engine, lock_name(stack), {**labels, "io.hostform.kind": "lock"})
            else:
                engine.create_container(
                    lock_name(stack), {"Image": LOCK_IMAGE, "Cmd": ["hostform-lock"], "Labels": labels}
                )
            return
        except ConflictError:
            held = read_lock(engine, stack)
            if held is None:
                continue  # released between our two calls
            if time.monotonic() >= deadline:
                raise LockError(held.describe()) from None
            time.sleep(0.5)


def release(engine: Engine, stack: str) -> None:
    held = read_lock(engine, stack)
    if held is not None and held.holder_pid == os.getpid() and held.holder_host == socket.gethostname():
        _remove(engine, stack)


def break_lock(engine: Engine, stack: str) -> LockInfo | None:
    held = read_lock(engine, stack)
    if held is not None:
        _remove(engine, stack)
    return held


def _remove(engine: Engine, stack: str) -> None:
    if engine.swarm:
        swarm_lock.remove(engine, lock_name(stack))
    else:
        engine.remove_container(lock_name(stack))


@contextmanager
def stack_lock(engine: Engine, stack: str, operation: str, timeout: float = 0.0) -> Iterator[None]:
    acquire(engine, stack, operation, timeout)
    try:
        yield
    finally:
        release(engine, stack)
