"""Engine names and labels: how hostform recognises what it owns."""

from __future__ import annotations

import os
from dataclasses import dataclass

LABEL_STACK = "io.hostform.stack"
LABEL_NAME = "io.hostform.name"
LABEL_KIND = "io.hostform.kind"
LABEL_REPLICA = "io.hostform.replica"
LABEL_SPEC = "io.hostform.spec"  # last-applied canonical spec (secrets hashed)
LABEL_SPEC_HASH = "io.hostform.spec-hash"
LABEL_KEY = "io.hostform.key"  # per-stack key for hashing secrets, on the default network
LABEL_RECORD = "io.hostform.record"  # on the record's objects: the stack whose applies they record
LABEL_GENERATION = "io.hostform.generation"
KIND_RECORD = "record"

DEFAULT_NETWORK = "default"
TEMP_NEW = "--new"
TEMP_OLD = "--old"


def container_name(stack: str, name: str, replica: int, replicas: int) -> str:
    return f"{stack}-{name}" if replicas <= 1 and replica == 1 else f"{stack}-{name}-{replica}"


def temp_name(engine_name: str, suffix: str) -> str:
    """Unique, so leftovers of an interrupted apply never block the next one."""
    return f"{engine_name}{suffix}-{os.urandom(3).hex()}"


def record_name(stack: str, generation: int) -> str:
    """`hostform.record.<stack>.<generation>`: no declared resource can produce it. A declared
    name is `<stack><'-' or '_'><name>`; here every '-' or '_' comes after a '.', which a stack
    name never holds, so no prefix ending at a separator is a stack name."""
    return f"hostform.record.{stack}.{generation:06d}"


def is_temporary(engine_name: str) -> bool:
    """A name `temp_name` made (`<engine name>--new-a1b2c3`): a leftover of an interrupted apply."""
    head, sep, tail = engine_name.rpartition("-")
    return bool(sep) and len(tail) == 6 and head.endswith((TEMP_NEW, TEMP_OLD))


def network_name(stack: str, name: str) -> str:
    return f"{stack}_{name}"


def volume_name(stack: str, name: str) -> str:
    return f"{stack}_{name}"


@dataclass(frozen=True)
class Naming:
    """Engine names of a stack's networks and volumes: `<stack>_<key>`, or the key itself for one
    declared `external = true` (an existing object hostform uses but does not own)."""

    stack: str
    external_networks: frozenset[str] = frozenset()
    external_volumes: frozenset[str] = frozenset()

    def network(self, key: str) -> str:
        return key if key in self.external_networks else network_name(self.stack, key)

    def volume(self, key: str) -> str:
        return key if key in self.external_volumes else volume_name(self.stack, key)


def user_labels(labels: dict[str, str]) -> dict[str, str]:
    """The labels a user declared: all but hostform's own (io.hostform.*)."""
    return {k: v for k, v in labels.items() if not k.startswith("io.hostform.")}


def owner_labels(stack: str, name: str, kind: str) -> dict[str, str]:
    return {LABEL_STACK: stack, LABEL_NAME: name, LABEL_KIND: kind}
