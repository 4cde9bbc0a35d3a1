"""The stack lock on a Swarm manager: a config named for the stack (creation is atomic and
cluster-wide, so two machines driving one swarm exclude each other). Its labels say who holds it."""

from __future__ import annotations

from typing import Any

from hostform.declare.errors import ConflictError, EngineError
from hostform.runtime.engine import Engine


def read(engine: Engine, name: str) -> dict[str, str] | None:
    return labels_of(name, engine.list_configs({"name": name}, what="read the stack lock"))


def labels_of(name: str, found: list[dict[str, Any]]) -> dict[str, str] | None:
    """The lock's labels in a config listing filtered by its name (a prefix match): None when absent."""
    exact = [c for c in found if (c.get("Spec") or {}).get("Name") == name]
    if not exact:
        return None
    labels: dict[str, str] = (exact[0].get("Spec") or {}).get("Labels") or {}
    return labels


def create(engine: Engine, name: str, labels: dict[str, str]) -> None:
    try:
        engine.call("take the stack lock", engine.api.create_config, name, b"hostform lock", labels=labels)
    except EngineError as exc:
        if "already exists" in str(exc) or isinstance(exc, ConflictError):
            raise ConflictError(str(exc)) from None
        raise


def remove(engine: Engine, name: str) -> None:
    engine.call("release the stack lock", engine.api.remove_config, name)
