"""Waiting for a container to reach a condition: started, healthy, completed."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from hostform.declare.errors import ApplyError
from hostform.declare.schema import ContainerSpec
from hostform.runtime.engine import Engine

POLL = 0.1
SETTLE = 1.0  # seconds a container without a healthcheck must stay up to count as ready


@dataclass(frozen=True)
class Readiness:
    ok: bool
    detail: str = ""


def health_budget(spec: ContainerSpec | None) -> float:
    """Seconds a healthcheck may take to pass, from its own settings (Docker's defaults otherwise)."""
    hc = spec.healthcheck if spec else None
    if hc is None or hc.disable:
        return 30 * 4 + 30.0  # Docker's default interval x retries, plus slack for an image healthcheck
    per_try = (hc.interval + hc.timeout) / 1e9
    return hc.start_period / 1e9 + per_try * (hc.retries + 1) + 5.0


def wait_for(
    engine: Engine, ident: str, condition: str, budget: float, stop: threading.Event | None = None
) -> Readiness:
    """Poll until the condition holds or cannot hold any more; `stop` (Ctrl-C) ends the wait."""
    deadline = time.monotonic() + budget
    up_since: tuple[float, object] | None = None  # when we first saw it up, and its StartedAt then
    stop = stop or threading.Event()
    while True:
        if stop.is_set():
            return Readiness(False, f"interrupted while waiting for it to be {condition}")
        info = engine.inspect_container(ident)
        if info is None:
            return Readiness(False, "container disappeared")
        state = info.get("State") or {}
        verdict = _judge(state, condition)
        if verdict is not None and verdict.ok and condition == "ready" and not state.get("Health"):
            # no healthcheck: "up" must last, or a command that fails at once would pass for ready
            if up_since is not None and up_since[1] != state.get("StartedAt"):
                verdict = Readiness(False, "restarted while starting")
            elif up_since is None or time.monotonic() - up_since[0] < SETTLE:
                up_since = up_since or (time.monotonic(), state.get("StartedAt"))
                verdict = None
        if verdict is not None:
            if not verdict.ok and condition != "completed":
                return Readiness(False, verdict.detail + _last_words(engine, ident, state))
            return verdict
        if time.monotonic() > deadline:
            return Readiness(False, f"not {condition} after {budget:.0f}s" + _last_words(engine, ident, state))
        stop.wait(POLL)


def _judge(state: dict[str, object], condition: str) -> Readiness | None:
    status = str(state.get("Status"))
    raw_health = state.get("Health")
    health = raw_health.get("Status") if isinstance(raw_health, dict) else None
    if condition == "completed":
        if status in ("exited", "dead"):
            code = int(state.get("ExitCode") or 0)  # type: ignore[call-overload]
            return Readiness(code == 0, f"exited with code {code}")
        return None
    if status in ("exited", "dead"):
        return Readiness(False, f"exited with code {state.get('ExitCode')}")
    if status == "restarting":
        return Readiness(False, "is restarting (crash loop)")
    if status != "running":
        return None
    if condition == "healthy" and raw_health is None:
        # the engine sets State.Health at start whenever a healthcheck is configured
        return Readiness(False, "has no healthcheck (neither in the stack nor in its image): it can never be healthy")
    if condition == "healthy" or (condition == "ready" and health is not None):
        if health == "healthy":
            return Readiness(True)
        if health == "unhealthy":
            return Readiness(False, "is unhealthy")
        return None
    return Readiness(True)


def settled(engine: Engine, ident: str) -> Readiness:
    """A container started a moment ago (SETTLE) is still up: not exited, not restarting, not unhealthy."""
    info = engine.inspect_container(ident)
    if info is None:
        return Readiness(False, "disappeared right after it started")
    state = info.get("State") or {}
    status = str(state.get("Status"))
    code = state.get("ExitCode")
    if status in ("exited", "dead"):
        hint = " (a command that runs once belongs in [jobs])" if code == 0 else ""
        detail = f"exited with code {code} right after it started{hint}"
    elif status == "restarting" or int(info.get("RestartCount") or 0) > 0:
        detail = f"is in a restart loop right after it started (last exit code {code})"
    elif ((state.get("Health") or {}).get("Status")) == "unhealthy":
        detail = "is unhealthy right after it started"
    else:
        return Readiness(True)
    return Readiness(False, detail + _last_words(engine, ident, state))


def _last_words(engine: Engine, ident: str, state: dict[str, object]) -> str:
    health = state.get("Health")
    if isinstance(health, dict) and health.get("Log"):
        last = [str(entry.get("Output", "")).strip() for entry in health["Log"][-3:]]
        return "; last health checks: " + " | ".join(x for x in last if x)
    logs = engine.logs_tail(ident, 5)
    return ("; last log lines: " + " | ".join(logs)) if logs else ""


def require(readiness: Readiness, what: str) -> None:
    if not readiness.ok:
        raise ApplyError(f"{what} {readiness.detail}")
