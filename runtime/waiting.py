"""Waiting for a container to reach a condition: started, healthy, completed."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from hostform.declare.errors import ApplyError
from hostform.declare.names import Condition
from hostform.declare.spec import ContainerSpec
from hostform.runtime.engine import Engine
from hostform.runtime.state import ContainerState, Health, read_state

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
    engine: Engine, ident: str, condition: Condition, budget: float, stop: threading.Event | None = None
) -> Readiness:
    """Poll until the condition holds or cannot hold any more; `stop` (Ctrl-C) ends the wait."""
    deadline = time.monotonic() + budget
    up_since: tuple[float, str] | None = None  # when we first saw it up, and its StartedAt then
    stop = stop or threading.Event()
    checks = _HealthDriver(engine, ident) if engine.product()[0] == "podman" else None
    while True:
        if stop.is_set():
            return Readiness(False, f"interrupted while waiting for it to be {condition}")
        state = read_state(engine, ident)
        if state is None:
            return Readiness(False, "container disappeared")
        if checks is not None and state.status == "running" and state.health is not Health.HEALTHY:
            checks.tick(state)
        verdict = _judge(state, condition)
        if verdict is not None and verdict.ok and condition is Condition.READY and not state.has_healthcheck:
            # no healthcheck: "up" must last, or a command that fails at once would pass for ready
            if up_since is not None and up_since[1] != state.started_at:
                verdict = Readiness(False, "restarted while starting")
            elif up_since is None or time.monotonic() - up_since[0] < SETTLE:
                up_since = up_since or (time.monotonic(), state.started_at)
                verdict = None
        if verdict is not None:
            if not verdict.ok and condition is not Condition.COMPLETED:
                return Readiness(False, verdict.detail + _last_words(engine, ident, state))
            return verdict
        if time.monotonic() > deadline:
            return Readiness(False, f"not {condition} after {budget:.0f}s" + _last_words(engine, ident, state))
        stop.wait(POLL)


class _HealthDriver:
    """Runs a starting container's healthcheck at its interval while apply waits for it, on an
    engine that may run none itself (Podman without systemd: its checks are systemd timers).
    Running one more check where systemd runs them too changes nothing but its timing."""

    def __init__(self, engine: Engine, ident: str) -> None:
        self.engine, self.ident = engine, ident
        self.every: float | None = None
        self.next_at = 0.0

    def tick(self, state: ContainerState) -> None:
        if not state.has_healthcheck or time.monotonic() < self.next_at:
            return
        if self.every is None:
            found = self.engine.inspect_container(self.ident) or {}
            check = (found.get("Config") or {}).get("Healthcheck") or {}
            self.every = float(check.get("Interval") or 30e9) / 1e9
            self.next_at = time.monotonic() + self.every  # as Docker: the first check one interval in
            return
        self.engine.run_healthcheck(self.ident)
        self.next_at = time.monotonic() + self.every


def _judge(state: ContainerState, condition: Condition) -> Readiness | None:
    status = state.status
    if condition is Condition.COMPLETED:
        if status in ("exited", "dead"):
            code = state.exit_code or 0
            return Readiness(code == 0, f"exited with code {code}")
        return None
    if status in ("exited", "dead"):
        return Readiness(False, f"exited with code {state.exit_code}")
    if status == "restarting":
        return Readiness(False, "is restarting (crash loop)")
    if status != "running":
        return None
    if condition is Condition.HEALTHY and not state.has_healthcheck:
        # the engine sets State.Health at start whenever a healthcheck is configured
        return Readiness(False, "has no healthcheck (neither in the stack nor in its image): it can never be healthy")
    if condition is Condition.HEALTHY or (condition is Condition.READY and state.has_healthcheck):
        if state.health is Health.HEALTHY:
            return Readiness(True)
        if state.health is Health.UNHEALTHY:
            return Readiness(False, "is unhealthy")
        return None
    return Readiness(True)


def settled(engine: Engine, ident: str) -> Readiness:
    """A container started a moment ago (SETTLE) is still up: not exited, not restarting, not unhealthy."""
    state = read_state(engine, ident)
    if state is None:
        return Readiness(False, "disappeared right after it started")
    code = state.exit_code
    if state.status in ("exited", "dead"):
        hint = " (a command that runs once belongs in [jobs])" if code == 0 else ""
        detail = f"exited with code {code} right after it started{hint}"
    elif state.status == "restarting" or state.restart_count > 0:
        detail = f"is in a restart loop right after it started (last exit code {code})"
    elif state.health is Health.UNHEALTHY:
        detail = "is unhealthy right after it started"
    else:
        return Readiness(True)
    return Readiness(False, detail + _last_words(engine, ident, state))


def _last_words(engine: Engine, ident: str, state: ContainerState) -> str:
    if state.health_log:
        return "; last health checks: " + " | ".join(x for x in state.health_log[-3:] if x)
    logs = engine.logs_tail(ident, 5)
    return ("; last log lines: " + " | ".join(logs)) if logs else ""


def require(readiness: Readiness, what: str) -> None:
    if not readiness.ok:
        raise ApplyError(f"{what} {readiness.detail}")
