"""Drift found from the engine's event stream, and healed with `drift --fix`'s own code.

An event of a stack's container that can mean drift (died, removed, paused, renamed, updated,
unhealthy) schedules a drift check of that stack after `heal_debounce` seconds (a burst of events
is one check). While the agent works on the stack itself (a sync, a heal, and a short quiet time
after, for its events still on their way) the check waits until that is over: it then finds the
stack in sync and does nothing. A stack healed again soon after its last heal waits longer each
time, so a container that dies at once after every start cannot make a heal loop.

The stack is checked against the file of the commit that was applied (not a newer pending one):
pending changes are never "healed". When the applied commit is not known (mode plan, before any
sync found the host matching), a fix is made only if nothing is pending.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hostform.declare.errors import HostformError
from hostform.plans.agent import deploy
from hostform.plans.agent.guards import QUIET, Guards
from hostform.plans.agent.metrics import Metrics
from hostform.plans.agent.notify import Notifier
from hostform.plans.agent.status import Board, StackStatus, State
from hostform.plans.agent.sync import SourceSync, error_text, now_text
from hostform.runtime.events import ContainerEvent

REPEAT_WINDOW = 60.0  # seconds: a heal within this of the stack's previous one counts as a repeat
BUSY_RETRY = 2.0  # seconds: an apply by someone else holds the lock: check again after


class Healer:
    def __init__(
        self,
        board: Board,
        syncs: dict[str, SourceSync],
        guards: Guards,
        metrics: Metrics,
        notify: Notifier,
        debounce: float,
        backoff_max: float,
    ) -> None:
        self.board = board
        self.syncs = syncs
        self.guards = guards
        self.metrics = metrics
        self.notify = notify
        self.debounce = debounce
        self.backoff_max = backoff_max
        self._due: dict[str, float] = {}  # stack name -> monotonic time of its check
        self._last_heal: dict[str, tuple[float, int]] = {}  # stack name -> (when, repeats)
        self._wake = threading.Condition()
        self._stopped = False
        self.seen: Callable[[ContainerEvent], None] | None = None  # for the benchmark: each event taken

    # ------------------------------------------------------------ events in

    def on_event(self, event: ContainerEvent) -> None:
        if os.environ.get("HOSTFORM_AGENT_TRACE"):
            print(f"agent: event {event.action} {event.engine_name} at {event.at:.3f}", file=sys.stderr, flush=True)
        if not self.board.by_name(event.stack):
            return
        if self.seen is not None:
            self.seen(event)
        self.schedule(event.stack, self.delay_of(event.stack))

    def schedule(self, stack: str, delay: float) -> None:
        with self._wake:
            at = time.monotonic() + delay
            self._due[stack] = min(self._due.get(stack, at), at)
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify()

    # ------------------------------------------------------------ checks out

    def run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped:
                    now = time.monotonic()
                    ready = [s for s, at in self._due.items() if at <= now]
                    if ready:
                        break
                    nearest = min(self._due.values(), default=now + 3600)
                    self._wake.wait(max(0.0, nearest - now))
                if self._stopped:
                    return
                for stack in ready:
                    del self._due[stack]
            for stack in ready:
                for s in self.board.by_name(stack):
                    try:
                        self._check(s)
                    except Exception as exc:  # a bug must not end the heal thread: reported as the stack's error
                        self._failed(s, f"internal error: {type(exc).__name__}: {exc}")
                        traceback.print_exc()

    def _check(self, s: StackStatus) -> None:
        sync = self.syncs.get(s.source)
        commit = s.applied_commit or s.commit
        if sync is None or commit is None:
            return
        if s.state is State.APPLYING or self.guards.busy(self._key(s)):
            self.schedule(s.name, QUIET)  # the agent's own work: checked once it is over
            return
        with self.guards.hold(self._key(s), wait=False) as held:
            if not held:
                return  # a sync of it runs: it converges the stack anyway
            started = time.monotonic()
            try:
                path = sync.cache.worktree(commit) / s.path
                healed, op = deploy.heal(path, sync.source.self_heal, file_applied=s.applied_commit is not None)
            except HostformError as exc:
                self._failed(s, error_text(exc))
                return
            if healed.fix is not None or healed.report.drifted:
                what = "fixed" if healed.fix is not None else "found"
                took = time.monotonic() - started
                print(f"agent: {s.name}: drift {what} in {took:.2f}s", file=sys.stderr, flush=True)
        if healed.busy is not None:
            self.schedule(s.name, BUSY_RETRY)
            return
        self._report(s, healed, op, path)

    def _report(self, s: StackStatus, healed: deploy.Healed, op: deploy.Operation, path: Path) -> None:
        found = deploy.findings(healed.report)
        self.metrics.drift.labels(s.name).set(len(found))
        state: State = s.state if s.state in (State.PENDING, State.FAILED) else State.SYNCED
        if healed.fix is not None:
            self.metrics.heals.labels(s.name).inc()
            self._repeat(s.name)
            self.notify("heal", s.name, s.source, f"drift fixed:\n{op.plan_text}", commit=s.applied_commit)
        if found:
            state = State.DRIFTED
            what = ", ".join(f"{f['address']} {f['drift']}" for f in found)
            if tuple(found) != s.drift:
                self.notify("drift", s.name, s.source, f"drift: {what}", findings=list(found))
        changes: dict[str, Any] = {"drift": tuple(found), "state": state}
        if op.plan_text:
            changes["last_plan"] = op.plan_text
            changes["log"] = tuple(op.events)
        sync = self.syncs[s.source]
        if healed.fix is not None:
            changes.update(sync.record_of(path, s.name))
        sync.show_state(self.board.update(s.source, s.path, **changes))

    def _repeat(self, stack: str) -> None:
        """A stack healed again soon after its last heal: its next check waits longer."""
        now = time.monotonic()
        last, repeats = self._last_heal.get(stack, (0.0, -1))
        repeats = repeats + 1 if now - last < REPEAT_WINDOW else 0
        self._last_heal[stack] = (now, repeats)

    def delay_of(self, stack: str) -> float:
        last, repeats = self._last_heal.get(stack, (0.0, -1))
        if repeats < 1 or time.monotonic() - last >= REPEAT_WINDOW:
            return self.debounce
        return float(min(self.backoff_max, self.debounce * 4**repeats))

    def _failed(self, s: StackStatus, message: str) -> None:
        self.metrics.failures.labels(s.name).inc()
        now = self.board.update(s.source, s.path, state=State.DRIFTED, last_error=message, last_error_at=now_text())
        self.syncs[s.source].show_state(now)
        print(f"agent: heal of {s.name}: {message}", file=sys.stderr)
        self.notify("failure", s.name, s.source, f"heal failed: {message}")
        self.schedule(s.name, min(self.backoff_max, 30.0))

    def _key(self, s: StackStatus) -> str:
        return f"{s.source}/{s.path}"


__all__ = ["Healer"]
