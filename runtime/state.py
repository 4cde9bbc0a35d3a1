"""One typed reader of a container's state: what the applier, the waits and the lock ask of
`docker inspect`, read in one place (no raw inspect dict leaves runtime/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hostform.runtime.engine import Engine


class Health(StrEnum):
    STARTING = "starting"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True)
class ContainerState:
    id: str
    engine_name: str
    status: str  # created | running | paused | restarting | exited | dead
    running: bool
    exit_code: int | None  # as the engine reports it (0 for a container that never ran)
    started_at: str  # changes at each (re)start
    health: Health | None  # None: no healthcheck configured
    health_log: tuple[str, ...] = ()  # outputs of the last health checks, oldest first
    restart_count: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    networks: dict[str, tuple[str, ...]] = field(default_factory=dict)  # network -> aliases (short ID left out)

    @property
    def has_healthcheck(self) -> bool:
        return self.health is not None


def container_state(info: dict[str, Any]) -> ContainerState:
    """The state of a container from its `docker inspect` document."""
    state = info.get("State") or {}
    raw_health = state.get("Health")
    health = None
    log: tuple[str, ...] = ()
    # Podman reports {"Status": ""} for a container without any healthcheck; Docker no Health at all
    if isinstance(raw_health, dict) and (raw_health.get("Status") or (info.get("Config") or {}).get("Healthcheck")):
        status = raw_health.get("Status")
        health = Health(status) if status in tuple(Health) else Health.STARTING
        log = tuple(str(entry.get("Output", "")).strip() for entry in raw_health.get("Log") or [])
    ident = str(info.get("Id") or "")
    endpoints = (info.get("NetworkSettings") or {}).get("Networks") or {}
    code = state.get("ExitCode")
    return ContainerState(
        id=ident,
        engine_name=str(info.get("Name") or ident[:12]).lstrip("/"),
        status=str(state.get("Status")),
        running=bool(state.get("Running")),
        exit_code=int(code) if code is not None else None,
        started_at=str(state.get("StartedAt") or ""),
        health=health,
        health_log=log,
        restart_count=int(info.get("RestartCount") or 0),
        labels=dict((info.get("Config") or {}).get("Labels") or {}),
        networks={net: tuple(a for a in (ep.get("Aliases") or []) if a != ident[:12]) for net, ep in endpoints.items()},
    )


def read_state(engine: Engine, ident: str) -> ContainerState | None:
    """The container's state now; None when there is no such container."""
    info = engine.inspect_container(ident)
    return None if info is None else container_state(info)
