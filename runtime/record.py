"""The record: what each apply, destroy and `drift --fix` left on the engine (docs/record.md).

A record is a series of generations, one per operation, newest first. A
generation lists every resource the operation left (address, kind, engine
name, canonical spec digest), the jobs that ran to completion, the digest of
the declaration, when, by whom, with which hostform and from which git commit,
and the plan's summary. Never a secret value: digests are keyed hashes.

Where it is kept is a `RecordStore`. On one engine (`VolumeRecordStore`) a
generation is a volume named `hostform.record.<stack>.<generation>` with no
data: its record and its seal (runtime.seal) are its labels. Volumes outlive
`docker container prune`, `docker system prune` (without --volumes), `docker
image prune -a` and engine restarts, and no listing of the stack's containers
or labelled volumes shows them. One listing (label `io.hostform.record=<stack>`)
returns every generation with its content, the stack's lock and the volume
keeping its key (`hostform.key.<stack>`). Writing creates the new generation
first and removes generations beyond the bound after: creating a volume is
atomic on the engine, so a process killed at any point leaves the previous or
the new generation readable.

Before volumes, a generation was a created, never started container of the same
name (`ContainerRecordStore`, read only now): read while a stack has no sealed
generation, and moved into volumes by its next apply (plans.recording).

A Swarm target keeps the same JSON as a Swarm config on the manager
(runtime.swarm_record): only the store differs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from hostform.declare import names
from hostform.declare.errors import ConflictError, HostformError
from hostform.runtime import seal
from hostform.runtime.engine import Engine
from hostform.runtime.generation import Generation, GenerationHead, RecordedResource

HISTORY_LIMIT = 20  # generations kept
MAX_GENERATION = 999_999  # six digits in the name
RECORD_ENV = "HOSTFORM_RECORD"  # where a container generation (before volumes) kept its record


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

    def next_number(self, heads: Sequence[GenerationHead]) -> int:
        """The number of the next generation, given the heads read."""
        ...


class ContainerRecordStore:
    """Generations as created, never started containers: how hostform kept its record before
    volumes. Read only (a stack not yet applied since), moved into volumes by the next apply."""

    def __init__(self, engine: Engine, stack: str, listed: list[dict[str, Any]] | None = None) -> None:
        self.engine = engine
        self.stack = stack
        self._listed = listed

    def heads(self) -> list[GenerationHead]:
        listed = self._listed
        if listed is None:
            listed = self.engine.list_containers(label=f"{names.LABEL_RECORD}={self.stack}")
        return heads_of(self.stack, listed)

    def load(self, head: GenerationHead) -> Generation | None:
        info = self.engine.inspect_container(head.ident)
        if info is None or (info.get("State") or {}).get("Status") != "created":
            return None  # a record container was never started: one that ran is not one hostform made
        for entry in (info.get("Config") or {}).get("Env") or []:
            key, _, value = str(entry).partition("=")
            if key == RECORD_ENV:
                found = Generation.from_json(value)
                ok = found is not None and found.stack == self.stack and found.number == head.number
                return found if ok else None
        return None

    def write(self, generation: Generation) -> None:
        raise HostformError("the record is no longer written as containers")

    def remove(self, head: GenerationHead) -> None:
        self.engine.remove_container(head.ident)

    def next_number(self, heads: Sequence[GenerationHead]) -> int:
        return max([h.number for h in heads], default=0) + 1


class Book:
    """The stack's bookkeeping volumes, from one listing (label `io.hostform.record=<stack>`):
    the generations whose seal holds under the stack's key, the lock, the key volume, and the
    volumes that carry the label but that hostform did not write (foreign: never read, never removed)."""

    def __init__(self, stack: str, listed: Iterable[dict[str, Any]], network_key: bytes | None) -> None:
        self.stack = stack
        self.lock: dict[str, str] | None = None
        self.kept_key: bytes | None = None  # what the key volume keeps
        self.taken: set[int] = set()  # numbers held by a volume of the record's name, foreign ones too
        foreign: list[str] = []
        candidates: list[tuple[str, dict[str, str]]] = []
        for v in listed:
            name, labels = str(v.get("Name") or ""), dict(v.get("Labels") or {})
            if name == names.lock_name(stack) and labels.get(names.LABEL_LOCK) == stack:
                self.lock = labels
            elif name == names.key_name(stack) and seal.key_of(stack, name, labels) is not None:
                self.kept_key = seal.key_of(stack, name, labels)
            elif names.record_number(stack, name) is not None:
                self.taken.add(names.record_number(stack, name) or 0)
                candidates.append((name, labels))
            elif labels.get(names.LABEL_RECORD) == stack:
                foreign.append(name)
        if network_key is not None and self.kept_key not in (None, network_key):
            foreign.append(names.key_name(stack))  # the default network's key is the stack's
        self.key = network_key or self.kept_key
        self.sealed: list[tuple[int, str, dict[str, str]]] = []
        for name, labels in candidates:
            number = seal.holds(stack, name, labels, self.key)
            if number is None:
                foreign.append(name)
            else:
                self.sealed.append((number, name, labels))
        self.sealed.sort(key=lambda entry: entry[0], reverse=True)
        self.foreign = tuple(sorted(foreign))

    def heads(self) -> list[GenerationHead]:
        return [GenerationHead(n, name) for n, name, _ in self.sealed]

    def load(self, head: GenerationHead) -> Generation | None:
        for number, name, labels in self.sealed:
            if number == head.number and name == head.ident:
                return seal.unseal(self.stack, name, labels, self.key)
        return None

    def newest(self) -> Generation | None:
        """The newest generation whose seal holds and whose JSON reads."""
        for head in self.heads():
            found = self.load(head)
            if found is not None:
                return found
        return None


def record_listing(engine: Engine, stack: str) -> list[dict[str, Any]]:
    """The stack's bookkeeping volumes: its generations, its lock, its key volume (one call)."""
    return engine.list_volumes(label=f"{names.LABEL_RECORD}={stack}")


def network_key(stack: str, networks: Iterable[dict[str, Any]]) -> bytes | None:
    """The key the stack's default network carries, when hostform made it (a listing of networks)."""
    for n in networks:
        labels = n.get("Labels") or {}
        if labels.get(names.LABEL_STACK) == stack and labels.get(names.LABEL_NAME) == names.DEFAULT_NETWORK:
            raw = labels.get(names.LABEL_KEY)
            try:
                return bytes.fromhex(raw) if raw else None
            except ValueError:
                return None
    return None


def every_stack(engine: Engine) -> dict[str, Generation]:
    """The newest generation of every stack recorded on the engine (its seal checked under its
    own key): a listing of the record's volumes and one of the default networks (the keys); a
    stack whose record an older hostform kept in containers costs one read of its newest."""
    volumes = engine.list_volumes(label=names.LABEL_RECORD)
    nets = engine.list_networks(label=f"{names.LABEL_NAME}={names.DEFAULT_NETWORK}")
    by_stack: dict[str, list[dict[str, Any]]] = {}
    for v in volumes:
        by_stack.setdefault(str((v.get("Labels") or {}).get(names.LABEL_RECORD)), []).append(v)
    out = {}
    for stack, listed in by_stack.items():
        found = Book(stack, listed, network_key(stack, nets)).newest()
        if found is not None:
            out[stack] = found
    containers = engine.list_containers(label=names.LABEL_RECORD)
    for stack in sorted({str((c.get("Labels") or {}).get(names.LABEL_RECORD)) for c in containers} - set(out)):
        found = newest(ContainerRecordStore(engine, stack, containers), heads_of(stack, containers))
        if found is not None:
            out[stack] = found
    return out


def held_by_others(engine: Engine, stack: str) -> dict[str, str]:
    """What other stacks adopted, by their records: engine ID (a volume: its name) -> that stack.
    Such an object is not `stack`'s to adopt or to remove."""
    out: dict[str, str] = {}
    for other, generation in every_stack(engine).items():
        if other != stack:
            out.update({str(entry.get("id")): other for entry in generation.adopted.values() if entry.get("id")})
    return out


def read_book(engine: Engine, stack: str) -> Book:
    """The stack's record on its own (history, the applier): two listings, networks and volumes."""
    nets = engine.list_networks(label=f"{names.LABEL_STACK}={stack}")
    return Book(stack, record_listing(engine, stack), network_key(stack, nets))


class VolumeRecordStore:
    """Generations as volumes whose labels hold the record, sealed under the stack's key."""

    def __init__(self, engine: Engine, stack: str, key: bytes, book: Book | None = None) -> None:
        self.engine = engine
        self.stack = stack
        self.key = key
        self._book = book

    def book(self) -> Book:
        if self._book is None:
            self._book = Book(self.stack, record_listing(self.engine, self.stack), self.key)
        return self._book

    def heads(self) -> list[GenerationHead]:
        return self.book().heads()

    def heads_again(self) -> list[GenerationHead]:
        """The heads as the engine has them now (after writes of our own)."""
        self._book = None
        return self.heads()

    def load(self, head: GenerationHead) -> Generation | None:
        return self.book().load(head)

    def write(self, generation: Generation) -> None:
        name = names.record_name(self.stack, generation.number)
        labels = seal.sealed_labels(generation, self.key)
        found = self.engine.create_volume_if_absent(name, labels)
        if found != labels:  # the engine gives back the volume it has: someone else's under that name
            raise ConflictError(f"volume {name} already exists and hostform did not write it")
        self.book().taken.add(generation.number)

    def remove(self, head: GenerationHead) -> None:
        self.engine.remove_volume(head.ident)

    def next_number(self, heads: Sequence[GenerationHead]) -> int:
        """After the newest sealed one, past any foreign volume holding a record name."""
        number = max([h.number for h in heads], default=0) + 1
        while number in self.book().taken:
            number += 1
        if number > MAX_GENERATION:
            raise HostformError(
                f"stack {self.stack!r}: generation numbers are used up to {MAX_GENERATION} "
                "(foreign volumes named hostform.record.*?): remove them by hand"
            )
        return number

    def ensure_key(self) -> None:
        """The volume keeping the stack's key: made once (it outlives a pruned default network)."""
        if self.book().kept_key is None:
            self.engine.create_volume_if_absent(names.key_name(self.stack), seal.key_labels(self.stack, self.key))


def is_record(labels: dict[str, str]) -> bool:
    return labels.get(names.LABEL_KIND) == names.KIND_RECORD and names.LABEL_RECORD in labels


def heads_of(stack: str, listed: Iterable[dict[str, Any]]) -> list[GenerationHead]:
    """The generations of `stack` in a container listing, newest first."""
    out = []
    for c in listed:
        labels = c.get("Labels") or {}
        name = str((c.get("Names") or ["/"])[0]).lstrip("/")
        number = names.record_number(stack, name)
        if not is_record(labels) or labels.get(names.LABEL_RECORD) != stack or number is None:
            continue
        if labels.get(names.LABEL_GENERATION) in (str(number), f"{number:06d}"):
            out.append(GenerationHead(number, str(c["Id"])))
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
    "MAX_GENERATION",
    "Book",
    "ContainerRecordStore",
    "VolumeRecordStore",
    "every_stack",
    "held_by_others",
    "network_key",
    "read_book",
    "record_listing",
    "Generation",
    "GenerationHead",
    "RecordStore",
    "RecordedResource",
    "commit",
    "heads_of",
    "is_record",
    "newest",
]
