"""The record: what each apply, destroy and `drift --fix` left on the engine (docs/record.md).

A record is a series of generations, one per operation, newest first. A
generation lists every resource the operation left (address, kind, engine
name, canonical spec digest), the digest of the declaration, when, by whom,
with which hostform and from which git commit, and the plan's summary.
Never a secret value: spec digests and declaration digests are keyed hashes.

Where it is kept is a `RecordStore`. On one engine (`ContainerRecordStore`) a
generation is a created, never started container named
`hostform.record.<stack>.<generation>`, its record in its environment
(`HOSTFORM_RECORD`), found by its labels. Writing creates the new generation
first and removes generations beyond the bound after, so a process killed at
any point leaves the previous or the new generation readable: creating a
container is atomic on the engine. A Swarm target keeps the same JSON as a
Swarm config of the same name on the manager (configs are immutable and
created atomically too): only the store differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from hostform.declare import names
from hostform.runtime.engine import Engine
from hostform.runtime.generation import Generation, GenerationHead, RecordedResource

HISTORY_LIMIT = 20  # generations kept
RECORD_ENV = "HOSTFORM_RECORD"


class RecordStore(Protocol):
    """Where a stack's generations live. Every method is one engine call (write: one or two)."""

    def heads(self) -> list[GenerationHead]:
        """Every generation of the stack, newest first."""
        ...

    def load(self, head: GenerationHead) -> Generation | None:
        """One generation; None when it is gone or unreadable."""
        ...

    def write(self, generation: Generation) -> None:
        """Store a new generation atomically; an existing number is a ConflictError."""
        ...

    def remove(self, head: GenerationHead) -> None: ...


class ContainerRecordStore:
    """Generations as created, never started containers on one engine."""

    def __init__(self, engine: Engine, stack: str) -> None:
        self.engine = engine
        self.stack = stack

    def heads(self) -> list[GenerationHead]:
        return heads_of(self.stack, self.engine.list_containers(label=f"{names.LABEL_RECORD}={self.stack}"))

    def load(self, head: GenerationHead) -> Generation | None:
        info = self.engine.inspect_container(head.ident)
        if info is None:
            return None
        for entry in (info.get("Config") or {}).get("Env") or []:
            key, _, value = str(entry).partition("=")
            if key == RECORD_ENV:
                found = Generation.from_json(value)
                ok = found is not None and found.stack == self.stack and found.number == head.number
                return found if ok else None
        return None

    def write(self, generation: Generation) -> None:
        from hostform.runtime.lock import LOCK_IMAGE, ensure_lock_image

        ensure_lock_image(self.engine)
        labels = {
            **names.owner_labels(self.stack, names.KIND_RECORD, names.KIND_RECORD),
            names.LABEL_RECORD: self.stack,
            names.LABEL_GENERATION: str(generation.number),
        }
        config = {
            "Image": LOCK_IMAGE,
            "Cmd": ["hostform-record"],
            "Labels": labels,
            "Env": [f"{RECORD_ENV}={generation.to_json()}"],
            "NetworkDisabled": True,
        }
        self.engine.create_container(names.record_name(self.stack, generation.number), config)

    def remove(self, head: GenerationHead) -> None:
        self.engine.remove_container(head.ident)


def is_record(labels: dict[str, str]) -> bool:
    return labels.get(names.LABEL_KIND) == names.KIND_RECORD and names.LABEL_RECORD in labels


def heads_of(stack: str, listed: Iterable[dict[str, Any]]) -> list[GenerationHead]:
    """The generations of `stack` in a container listing, newest first."""
    out = []
    for c in listed:
        labels = c.get("Labels") or {}
        if not is_record(labels) or labels.get(names.LABEL_RECORD) != stack:
            continue
        try:
            out.append(GenerationHead(int(labels.get(names.LABEL_GENERATION, "")), str(c["Id"])))
        except ValueError:
            continue
    return sorted(out, key=lambda h: h.number, reverse=True)


def newest(store: RecordStore, heads: Sequence[GenerationHead]) -> Generation | None:
    """The newest readable generation (an unreadable one is skipped, never trusted)."""
    for head in heads:
        found = store.load(head)
        if found is not None:
            return found
    return None


def commit(store: RecordStore, generation: Generation, heads: Sequence[GenerationHead]) -> None:
    """Write `generation`, then drop the generations beyond the bound: new first, old after."""
    store.write(generation)
    kept = [h for h in heads if h.number < generation.number]
    for head in kept[HISTORY_LIMIT - 1 :]:
        store.remove(head)


__all__ = [
    "HISTORY_LIMIT",
    "ContainerRecordStore",
    "Generation",
    "GenerationHead",
    "RecordStore",
    "RecordedResource",
    "commit",
    "heads_of",
    "is_record",
    "newest",
]
