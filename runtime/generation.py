"""A generation of the record as plain data: no engine here (the planner reads it).

See runtime.record for where generations are kept, and docs/record.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hostform.declare.canonical import canonical_json
from hostform.declare.frozen import Frozen

FORMAT = 1


class RecordedResource(Frozen):
    address: str  # containers.web, containers.worker[2], jobs.migrate, networks.default, volumes.data
    kind: str  # container | job | network | volume
    engine_name: str
    digest: str | None  # canonical spec digest (containers: their spec-hash label); None when unknown


@dataclass(frozen=True)
class Generation:
    """One operation's record. `adopted` holds, per address, the objects hostform took over without
    creating them (`hostform adopt`): labels cannot be added to a running container, a network or
    a volume, so the record says they are the stack's. A container's entry is its engine ID and its
    live spec when adopted, which observe reads as its last-applied spec (`{"id", "spec"}`); a
    network's its ID (`{"id"}`), a volume's its name (`{"id"}`). `key` is the stack's secret-hashing
    key (hex) when its default network was adopted, and so carries no key label."""

    stack: str
    number: int
    operation: str  # apply | destroy | drift --fix
    at: str  # RFC 3339, UTC
    by: str  # user@host
    version: str  # hostform's
    commit: str | None  # git commit of the stack folder ("+dirty" when it had local changes)
    declaration: str | None  # digest of the declaration applied (None: destroy)
    summary: dict[str, Any]  # outcome, counts and the changes done: see plans.recording
    resources: tuple[RecordedResource, ...]
    known: dict[str, int] = field(default_factory=dict)  # engine name -> newest generation that listed it
    adopted: dict[str, dict[str, Any]] = field(default_factory=dict)
    key: str | None = None
    # jobs that ran to completion (exit 0): address -> the spec digest of that run; kept while the
    # job is declared and its container is gone (pruned), so a finished job is never run twice
    completed: dict[str, str] = field(default_factory=dict)

    def find(self, address: str, engine_name: str) -> RecordedResource | None:
        for r in self.resources:
            if r.address == address or r.engine_name == engine_name:
                return r
        return None

    def knows(self, engine_name: str) -> bool:
        """Listed by a kept generation (this one or an older one)."""
        return engine_name in self.known

    def adopted_of(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        """(address, engine name when recorded, entry) of the adopted objects of a kind: "container"
        (containers and jobs), "network" or "volume"."""
        tables = ("containers.", "jobs.") if kind == "container" else (f"{kind}s.",)
        names = {r.address: r.engine_name for r in self.resources}
        return [(a, names.get(a, ""), e) for a, e in sorted(self.adopted.items()) if a.startswith(tables)]

    def to_json(self) -> str:
        doc = {
            "format": FORMAT,
            "stack": self.stack,
            "generation": self.number,
            "operation": self.operation,
            "at": self.at,
            "by": self.by,
            "hostform": self.version,
            "commit": self.commit,
            "declaration": self.declaration,
            "summary": self.summary,
            "resources": [
                {"address": r.address, "kind": r.kind, "engine_name": r.engine_name, "digest": r.digest}
                for r in self.resources
            ],
            "known": self.known,
            "adopted": self.adopted,
            "completed": self.completed,
        }
        if self.key is not None:
            doc["key"] = self.key
        return canonical_json(doc)

    @staticmethod
    def from_json(text: str) -> Generation | None:
        """None when it is not a record this hostform reads."""
        try:
            doc = json.loads(text)
            if doc.get("format") != FORMAT:
                return None
            return Generation(
                stack=str(doc["stack"]),
                number=int(doc["generation"]),
                operation=str(doc["operation"]),
                at=str(doc["at"]),
                by=str(doc["by"]),
                version=str(doc["hostform"]),
                commit=doc.get("commit"),
                declaration=doc.get("declaration"),
                summary=dict(doc.get("summary") or {}),
                resources=tuple(
                    RecordedResource(str(r["address"]), str(r["kind"]), str(r["engine_name"]), r.get("digest"))
                    for r in doc.get("resources") or []
                ),
                known={str(k): int(v) for k, v in (doc.get("known") or {}).items()},
                adopted={str(k): dict(v) for k, v in (doc.get("adopted") or {}).items()},
                key=str(doc["key"]) if doc.get("key") else None,
                completed={str(k): str(v) for k, v in (doc.get("completed") or {}).items()},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


class GenerationHead(Frozen):
    """A generation as a listing shows it: enough to order and find it."""

    number: int
    ident: str  # the store's handle (a container ID, a config ID)


__all__ = ["FORMAT", "Generation", "GenerationHead", "RecordedResource"]
