"""One operation per stack at a time inside the agent, and the quiet time after each.

The engine-side stack lock keeps other processes out; these keep the agent's own threads apart
(a sync and a heal of one stack) and tell the heal which engine events the agent caused itself:
those of a stack while the agent works on it, and for QUIET seconds after.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

QUIET = 1.5  # seconds after the agent's own operation during which the stack's events are its own


class Guards:
    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._quiet_until: dict[str, float] = {}

    def _lock(self, key: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())

    @contextmanager
    def hold(self, key: str, wait: bool = True) -> Iterator[bool]:
        """Hold the stack `key`; with wait=False yields False at once when someone else holds it."""
        lock = self._lock(key)
        if not lock.acquire(blocking=wait):
            yield False
            return
        try:
            yield True
        finally:
            with self._guard:
                self._quiet_until[key] = time.monotonic() + QUIET
            lock.release()

    def busy(self, key: str) -> bool:
        """Held now, or in its quiet time: events of the stack are the agent's own doing."""
        with self._guard:
            lock = self._locks.get(key)
            quiet = self._quiet_until.get(key, 0.0) > time.monotonic()
        return quiet or (lock is not None and lock.locked())


__all__ = ["QUIET", "Guards"]
