"""What the agent knows of each stack, for /status, the page, the metrics and the heal.

One `StackStatus` per stack file found in a source (keyed by source and path in the repository),
replaced as a whole under one lock: readers get a consistent copy, never a half-updated one.

    state      means
    synced     the stack matches the commit it was last deployed from; no drift seen
    pending    mode = "plan": the commit's changes are not applied (the plan shows them); or the
               stack left the repository and prune is off
    applying   a plan, apply, heal or prune of it is running now
    drifted    the host no longer matches what was applied (self_heal off, or not healable)
    failed     the last sync of it failed (validation, plan, apply): the previous deployment runs
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class State(StrEnum):
    SYNCED = "synced"
    PENDING = "pending"
    APPLYING = "applying"
    DRIFTED = "drifted"
    FAILED = "failed"


@dataclass(frozen=True)
class StackStatus:
    source: str
    path: str  # the stack file, relative to the repository
    name: str = ""  # the stack's name, once loaded
    state: State = State.PENDING
    commit: str | None = None  # the newest commit of the source this stack was looked at in
    tree: str | None = None  # git tree id of the stack's folder at `commit`
    applied_commit: str | None = None  # the commit whose stack file runs (the previous one after a failure)
    synced_tree: str | None = None  # the folder's tree id last synced without error
    failed_tree: str | None = None  # the folder's tree id whose sync failed last
    removed: bool = False  # the stack file left the repository
    generation: dict[str, Any] | None = None  # the record's newest generation (history's JSON form)
    history: tuple[dict[str, Any], ...] = ()
    drift: tuple[dict[str, Any], ...] = ()  # the drift findings (drift --json's resources)
    last_plan: str = ""  # the last plan, as `hostform plan` prints it
    last_error: str | None = None
    last_error_at: str | None = None
    last_sync_at: str | None = None
    failures: int = 0  # failed syncs in a row
    retry_at: float = 0.0  # monotonic time before which a failed stack is not retried
    log: tuple[str, ...] = field(default_factory=tuple)  # the last apply's events

    @property
    def key(self) -> tuple[str, str]:
        return (self.source, self.path)

    def public(self) -> dict[str, Any]:
        """The JSON form of /status."""
        return {
            "name": self.name,
            "source": self.source,
            "path": self.path,
            "state": self.state.value,
            "commit": self.commit,
            "applied_commit": self.applied_commit,
            "removed": self.removed,
            "generation": self.generation,
            "drift": list(self.drift),
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "last_sync_at": self.last_sync_at,
            "failures": self.failures,
        }


class Board:
    """Every stack's status, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stacks: dict[tuple[str, str], StackStatus] = {}

    def get(self, source: str, path: str) -> StackStatus:
        with self._lock:
            return self._stacks.get((source, path)) or StackStatus(source, path)

    def put(self, status: StackStatus) -> StackStatus:
        with self._lock:
            self._stacks[status.key] = status
        return status

    def update(self, source: str, path: str, **changes: Any) -> StackStatus:
        with self._lock:
            now = replace(self._stacks.get((source, path)) or StackStatus(source, path), **changes)
            self._stacks[now.key] = now
            return now

    def drop(self, source: str, path: str) -> None:
        with self._lock:
            self._stacks.pop((source, path), None)

    def all(self) -> list[StackStatus]:
        with self._lock:
            return sorted(self._stacks.values(), key=lambda s: (s.source, s.path))

    def of_source(self, source: str) -> Iterator[StackStatus]:
        return (s for s in self.all() if s.source == source)

    def by_name(self, name: str) -> list[StackStatus]:
        return [s for s in self.all() if s.name == name and not s.removed]


__all__ = ["Board", "StackStatus", "State"]
