"""One apply per stack at a time, held on the engine side.

The lock is a volume named `hostform.lock.<stack>` (no declared name can produce it:
a stack's objects are `<stack>-<name>` or `<stack>_<name>`, and a stack name holds no
'.', so their first '.' always comes after a '-' or '_'), its labels saying who holds it
and a token of the holder's own. The engine creates one volume of a name at a time and
answers a create of an existing name with the volume it has: the holder is the one whose
token comes back, so two machines pointing at one engine cannot both take it. A volume
outlives `docker container prune`, `docker system prune` (without --volumes) and engine
restarts. A lock whose holder died is reported, never silently broken (`hostform unlock`).

Before volumes the lock was a created container of the same name: one still there (an
older hostform is applying) is honoured as held, and `hostform unlock` breaks it too.
On Swarm the lock is a config on the manager (runtime.swarm_lock).
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

from hostform.declare import names
from hostform.declare.errors import ConflictError, LockError
from hostform.declare.names import lock_name
from hostform.runtime import swarm_lock
from hostform.runtime.engine import Engine
from hostform.runtime.state import read_state

LOCK_IMAGE = "hostform/lock:1"  # the empty image of the containers of an older hostform's lock and record
LABEL_LOCK = names.LABEL_LOCK
LABEL_TOKEN = "io.hostform.lock.token"  # the holder's own: whose create won


@dataclass(frozen=True)
class LockInfo:
    stack: str
    holder_host: str
    holder_pid: int
    operation: str
    started_at: str
    kind: str = "container"  # what holds it on one engine: a volume, or an older hostform's container

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
        return lock_of(stack, swarm_lock.read(engine, lock_name(stack)))
    found = engine.inspect_volume(lock_name(stack))
    if found is not None:
        return lock_of(stack, dict(found.get("Labels") or {}), "volume")
    return _container_lock(engine, stack)


def _container_lock(engine: Engine, stack: str) -> LockInfo | None:
    """The lock of an older hostform: a created container of the lock's name."""
    state = read_state(engine, lock_name(stack))
    return None if state is None else lock_of(stack, state.labels)


def lock_of(stack: str, labels: dict[str, str] | None, what: str = "container") -> LockInfo | None:
    """The lock its labels describe (None: no lock); `labels` of a lock read along with other
    reads (runtime.observe finds it in the listing of the stack's record)."""
    if labels is None:
        return None
    if labels.get(LABEL_LOCK) != stack:
        raise LockError(f"{what} {lock_name(stack)!r} exists but is not a hostform lock; hostform will not touch it")
    return LockInfo(
        stack=stack,
        holder_host=labels.get("io.hostform.lock.host", "?"),
        holder_pid=int(labels.get("io.hostform.lock.pid", "0") or 0),
        operation=labels.get("io.hostform.lock.operation", "apply"),
        started_at=labels.get("io.hostform.lock.started", "?"),
        kind=what,
    )


def ensure_lock_image(engine: Engine) -> None:
    """An empty image for containers that are never started (an older hostform's lock and record)."""
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
    labels = {
        LABEL_LOCK: stack,
        names.LABEL_RECORD: stack,  # listed with the record: a plan reads the lock at no cost
        names.LABEL_KIND: names.KIND_LOCK,
        LABEL_TOKEN: os.urandom(8).hex(),
        "io.hostform.lock.host": socket.gethostname(),
        "io.hostform.lock.pid": str(os.getpid()),
        "io.hostform.lock.operation": operation,
        "io.hostform.lock.started": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    deadline = time.monotonic() + timeout
    while True:
        held = _take(engine, stack, labels)
        if held is None:
            return
        if time.monotonic() >= deadline:
            raise LockError(held.describe()) from None
        time.sleep(0.5)


def _take(engine: Engine, stack: str, labels: dict[str, str]) -> LockInfo | None:
    """None when the lock is ours now; else who holds it."""
    if engine.swarm:  # a Swarm config: its creation is atomic and cluster-wide
        swarm_labels = {k: v for k, v in labels.items() if k not in (names.LABEL_RECORD, LABEL_TOKEN)}
        while True:
            try:
                swarm_lock.create(engine, lock_name(stack), swarm_labels)
                return None
            except ConflictError:
                held = read_lock(engine, stack)
                if held is not None:
                    return held  # else released between our two calls: again
    found = engine.create_volume_if_absent(lock_name(stack), labels)
    if found.get(LABEL_TOKEN) != labels[LABEL_TOKEN]:
        return lock_of(stack, found, "volume")
    older = _container_lock(engine, stack)  # an older hostform applying now holds it its way
    if older is not None:
        engine.remove_volume(lock_name(stack))
    return older


def release(engine: Engine, stack: str) -> None:
    held = read_lock(engine, stack)
    if held is not None and held.holder_pid == os.getpid() and held.holder_host == socket.gethostname():
        _remove(engine, stack, held)


def break_lock(engine: Engine, stack: str) -> LockInfo | None:
    held = read_lock(engine, stack)
    if held is not None:
        _remove(engine, stack, held)
    return held


def _remove(engine: Engine, stack: str, held: LockInfo) -> None:
    if engine.swarm:
        swarm_lock.remove(engine, lock_name(stack))
    elif held.kind == "volume":
        engine.remove_volume(lock_name(stack))
    else:
        engine.remove_container(lock_name(stack))


@contextmanager
def stack_lock(engine: Engine, stack: str, operation: str, timeout: float = 0.0) -> Iterator[None]:
    acquire(engine, stack, operation, timeout)
    try:
        yield
    finally:
        release(engine, stack)
