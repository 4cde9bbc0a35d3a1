"""The applier: walks a plan's changes as a graph with N workers, keeping the report.

Networks, volumes and files before the containers that use them (plans.graph);
deletions last, and only when everything else converged. What each change does
on the host is the `Work` passed in (plans.work on the engine; a recorder in the
unit tests): the walk itself only orders, limits, reports and stops.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from hostform.declare.errors import ApplyError, HostformError
from hostform.declare.load import LoadedStack
from hostform.plans.graph import action_edges
from hostform.plans.model import Action, Change, Plan


@dataclass(frozen=True)
class Event:
    # started | progress (a build step, a push, a signal) | output (a line of a job's) | finished | failed | skipped
    kind: str
    address: str
    action: str
    seconds: float = 0.0
    message: str = ""


@dataclass
class ApplyReport:
    done: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    skipped: list[Change] = field(default_factory=list)
    interrupted: bool = False
    why_skipped: dict[str, str] = field(default_factory=dict)  # address -> why it was not done

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


@dataclass(frozen=True)
class Interrupt:
    """Ctrl-C (SIGINT/SIGTERM): `stop` on the first, finish in-flight actions and start no more;
    `abort` on a second, in-flight actions stop waiting too."""

    stop: threading.Event = field(default_factory=threading.Event)
    abort: threading.Event = field(default_factory=threading.Event)


Notify = Callable[[Event], None]


class Work(Protocol):
    """What the changes do on the host, one change at a time."""

    def prepare(self, changes: Sequence[Change], notify: Notify) -> list[tuple[Change, str]]:
        """Make ready (images) and check (file targets) what the changes need before anything is
        touched: the changes that cannot be done, with why. Any of them stops the apply before it starts."""
        ...

    def perform(self, change: Change, interrupt: Interrupt) -> None:
        """Do one change; raise to fail it (its dependents are then not done)."""
        ...

    def check_started(self, interrupt: Interrupt) -> list[tuple[Change, str]]:
        """Changes done that did not hold (a container that died right after its start), with why."""
        ...


class Applier:
    def __init__(
        self,
        loaded: LoadedStack,
        plan: Plan,
        work: Work,
        parallelism: int = 10,
        on_event: Notify = lambda e: None,
    ) -> None:
        self.loaded = loaded
        self.plan = plan
        self.work = work
        self.parallelism = max(1, parallelism)
        self.on_event = on_event
        self.report = ApplyReport()
        self.interrupt = Interrupt()
        self._lock = threading.Lock()

    @property
    def stop(self) -> threading.Event:
        return self.interrupt.stop

    @property
    def abort(self) -> threading.Event:
        return self.interrupt.abort

    def run(self) -> ApplyReport:
        """Apply the plan; a plan that cannot be applied (conflicts) is refused before anything is done."""
        if not self.plan.applicable:
            raise ApplyError(self.plan.refusal())
        try:
            return self._run()
        finally:
            self.report.interrupted = self.stop.is_set()

    def _run(self) -> ApplyReport:
        todo = [c for c in self.plan.actionable if c.action is not Action.DELETE and not c.is_image]
        deletes = [c for c in self.plan.actionable if c.action is Action.DELETE]
        images = [c for c in self.plan.actionable if c.is_image]  # builds and pushes: made in prepare
        unready = self.work.prepare(images + todo, self.on_event)
        if unready:
            for change, message in unready:
                self._fail(change, message)
            for c in todo + deletes:
                if all(c is not f for f, _ in self.report.failed):
                    self._skip(c, "nothing was changed: refused before the first change")
            return self.report
        with self._lock:
            self.report.done.extend(images)
        self._walk(todo, action_edges(todo, self.loaded.stack.services()))
        if not self.stop.is_set():
            for change, message in self.work.check_started(self.interrupt):
                with self._lock:
                    self.report.done = [c for c in self.report.done if c is not change]
                self._fail(change, message)
        if self.report.failed or self.report.skipped:
            for c in deletes:
                self._skip(c, "an earlier action failed")
            return self.report
        containers = [c for c in deletes if c.is_service]
        others = [c for c in deletes if not c.is_service]
        self._walk(containers, {})
        if self.report.failed:  # a network may still have a container attached: keep them all
            for c in others:
                self._skip(c, "a container deletion failed")
        else:
            self._walk(others, {})
        return self.report

    def _walk(self, changes: list[Change], edges: dict[str, set[str]]) -> None:
        pending = list(changes)  # a list: leftovers of one container share its address
        running: dict[Future[None], Change] = {}
        finished: set[str] = set()
        broken: set[str] = set()
        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            while pending or running:
                for change in list(pending):
                    deps = edges.get(change.address, set())
                    if self.stop.is_set():
                        pending.remove(change)
                        broken.add(change.address)
                        self._skip(change, "interrupted")
                    elif deps & broken:
                        pending.remove(change)
                        broken.add(change.address)
                        self._skip(change, "a dependency failed")
                    elif deps <= finished and len(running) < self.parallelism:
                        pending.remove(change)
                        running[pool.submit(self._execute, change)] = change
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    change = running.pop(fut)
                    if fut.exception() is None:
                        finished.add(change.address)
                    else:
                        broken.add(change.address)

    def _skip(self, change: Change, why: str) -> None:
        with self._lock:
            self.report.skipped.append(change)
            self.report.why_skipped.setdefault(change.address, why)
        self.on_event(Event("skipped", change.address, change.action.value, message=why))

    def _fail(self, change: Change, message: str, seconds: float = 0.0) -> None:
        with self._lock:
            self.report.failed.append((change, message))
        self.on_event(Event("failed", change.address, change.action.value, seconds, message))

    def _execute(self, change: Change) -> None:
        started = time.monotonic()
        self.on_event(Event("started", change.address, change.action.value))
        try:
            self.work.perform(change, self.interrupt)
        except Exception as exc:
            message = " ".join(exc.lines()) if isinstance(exc, HostformError) else f"unexpected error: {exc!r}"
            self._fail(change, message, time.monotonic() - started)
            raise
        with self._lock:
            self.report.done.append(change)
        self.on_event(Event("finished", change.address, change.action.value, time.monotonic() - started))
