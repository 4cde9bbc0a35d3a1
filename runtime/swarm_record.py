"""The record on a Swarm manager: one Swarm config per generation (docs/record.md).

A config named `hostform.record.<stack>.<generation>`, with the same labels as the one-engine
store's containers, holds the generation's canonical JSON as its data. Configs are immutable,
created atomically and replicated to every manager through Raft, so the write order of
`runtime.record.commit` (new generation first, then the oldest beyond the bound) gives the same
guarantee as on one engine: a process killed at any point leaves the previous or the new
generation readable.

A config's data is limited to 500 KB by Swarm. A generation above `PLAIN_LIMIT` is stored
gzip-compressed (a reader tells by the gzip magic bytes); one still too large after that is
refused with an error that says so, and the previous generation stays.
"""

from __future__ import annotations

import base64
import gzip
from collections.abc import Sequence
from typing import Any

from hostform.declare import names
from hostform.declare.errors import ConflictError, EngineError, HostformError, NotFound
from hostform.runtime.engine import Engine
from hostform.runtime.generation import Generation, GenerationHead

DATA_LIMIT = 500 * 1024  # Swarm refuses a config whose data is larger
PLAIN_LIMIT = DATA_LIMIT  # above it, the JSON is stored gzip-compressed
NAME_LIMIT = 64  # Swarm refuses a longer config name
_GZIP = b"\x1f\x8b"


def encode(generation: Generation) -> bytes:
    """The generation as a config's data: its JSON, gzip-compressed when it would not fit."""
    data = generation.to_json().encode()
    if len(data) <= PLAIN_LIMIT:
        return data
    packed = gzip.compress(data, mtime=0)
    if len(packed) > DATA_LIMIT:
        raise HostformError(
            f"generation {generation.number} of stack {generation.stack!r} is {len(data)} bytes "
            f"({len(packed)} compressed): more than a Swarm config holds ({DATA_LIMIT} bytes)"
        )
    return packed


def decode(stack: str, number: int, data: bytes) -> Generation | None:
    """None when it is not a readable generation of `stack` numbered `number` (never trusted then)."""
    try:
        text = (gzip.decompress(data) if data[:2] == _GZIP else data).decode()
    except (OSError, EOFError, UnicodeDecodeError):
        return None
    found = Generation.from_json(text)
    return found if found is not None and found.stack == stack and found.number == number else None


def heads_of_configs(stack: str, listed: list[dict[str, Any]]) -> list[GenerationHead]:
    """The generations of `stack` in a config listing, newest first: a config named exactly
    `hostform.record.<stack>.<six digits>` whose labels agree (a longer number is no generation)."""
    out = []
    for c in listed:
        spec = c.get("Spec") or {}
        labels = spec.get("Labels") or {}
        number = names.record_number(stack, str(spec.get("Name") or ""))
        if labels.get(names.LABEL_KIND) != names.KIND_RECORD or labels.get(names.LABEL_RECORD) != stack:
            continue
        if number is not None and labels.get(names.LABEL_GENERATION) in (str(number), f"{number:06d}") and "ID" in c:
            out.append(GenerationHead(number, str(c["ID"])))
    return sorted(out, key=lambda h: h.number, reverse=True)


class ConfigRecordStore:
    """Generations as Swarm configs on the manager (a `runtime.record.RecordStore`)."""

    def __init__(self, engine: Engine, stack: str, listed: list[dict[str, Any]] | None = None) -> None:
        self.engine = engine
        self.stack = stack
        # A config listing carries each config's data: a generation found there is not read again.
        self._listed = {str(c.get("ID")): c for c in listed or ()}

    def heads(self) -> list[GenerationHead]:
        label = f"{names.LABEL_RECORD}={self.stack}"
        return heads_of_configs(self.stack, self.engine.list_configs({"label": label}, what="list the record"))

    def load(self, head: GenerationHead) -> Generation | None:
        raw = self._listed.get(head.ident)
        if raw is None or "Data" not in (raw.get("Spec") or {}):
            try:
                raw = self.engine.inspect_config(head.ident, what=f"read generation {head.number}")
            except NotFound:  # removed since it was listed
                return None
        try:
            data = base64.b64decode((raw.get("Spec") or {}).get("Data") or "")
        except ValueError:
            return None
        return decode(self.stack, head.number, data)

    def write(self, generation: Generation) -> None:
        name = names.record_name(self.stack, generation.number)
        if len(name) > NAME_LIMIT:
            raise HostformError(
                f"the record's config name {name!r} is longer than Swarm allows ({NAME_LIMIT}): "
                f"use a stack name of at most {NAME_LIMIT - len(names.record_name('', 0))} characters"
            )
        labels = {
            **names.owner_labels(self.stack, names.KIND_RECORD, names.KIND_RECORD),
            names.LABEL_RECORD: self.stack,
            names.LABEL_GENERATION: str(generation.number),
        }
        try:
            self.engine.call(
                f"write generation {generation.number}",
                self.engine.api.create_config,
                name,
                encode(generation),
                labels=labels,
            )
        except EngineError as exc:
            if "already exists" in str(exc) or isinstance(exc, ConflictError):
                raise ConflictError(str(exc)) from None
            raise

    def remove(self, head: GenerationHead) -> None:
        self.engine.call(f"remove generation {head.number}", self.engine.api.remove_config, head.ident)

    def next_number(self, heads: Sequence[GenerationHead]) -> int:
        return max([h.number for h in heads], default=0) + 1


__all__ = ["DATA_LIMIT", "ConfigRecordStore", "decode", "encode", "heads_of_configs"]
