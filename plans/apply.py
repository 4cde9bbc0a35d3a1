"""The applier: walks a plan's changes as a graph with N workers.

Networks, volumes and files before the containers that use them; depends_on
conditions (started, healthy, completed) before a dependent is touched;
deletions last, and only when everything else converged. A replacement that
fails puts the old container back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from hostform.declare import names
from hostform.declare.canonical import service_spec
from hostform.declare.errors import ApplyError, HostformError
from hostform.declare.load import LoadedStack
from hostform.declare.schema import ContainerSpec
from hostform.plans.model import Action, Change, Plan, ReasonKind
from hostform.runtime import actions
from hostform.runtime.engine import Engine
from hostform.runtime.waiting import SETTLE, health_budget, require, settled, wait_for

JOB_BUDGET = 3600.0


@dataclass(frozen=True)
class Event:
    kind: str  # started | finished | failed | skipped
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


class Applier:
    def __init__(
        self,
        engine: Engine,
        loaded: LoadedStack,
        plan: Plan,
        parallelism: int = 10,
        on_event: Callable[[Event], None] = lambda e: None,
    ) -> None:
        self.engine = engine
        self.loaded = loaded
        self.plan = plan
        self.parallelism = max(1, parallelism)
        self.on_event = on_event
        self.report = ApplyReport()
        self._lock = threading.Lock()
        self.stop = threading.Event()  # set on SIGINT/SIGTERM: finish in-flight actions, start no more
        self.abort = threading.Event()  # set on a second one: in-flight actions stop waiting too
        self._started: list[tuple[Change, str, float]] = []  # created or started here: checked at the end

    # ------------------------------------------------------------ the walk

    def run(self) -> ApplyReport:
        try:
            return self._run()
        finally:
            self.report.interrupted = self.stop.is_set()

    def _run(self) -> ApplyReport:
        todo = [c for c in self.plan.actionable if c.action is not Action.DELETE]
        deletes = [c for c in self.plan.actionable if c.action is Action.DELETE]
        if not self._prepare_images(todo):
            for c in todo + deletes:
                if all(c is not f for f, _ in self.report.failed):
                    self._skip(c, "nothing was changed: an image could not be made ready")
            return self.report
        self._walk(todo, self._edges(todo))
        self._check_started()
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

    def _prepare_images(self, changes: list[Change]) -> bool:
        """Every image a create or replace needs, pulled per its policy before anything is touched,
        so a tag that cannot be pulled stops the apply before it starts, not halfway through."""
        services = self.loaded.stack.services()
        users: dict[str, list[Change]] = {}
        policy: dict[str, ContainerSpec] = {}
        rank = {"never": 0, "missing": 1, "always": 2}
        for c in changes:
            if c.is_service and c.action in (Action.CREATE, Action.REPLACE):
                spec = services[c.name]
                users.setdefault(spec.image, []).append(c)
                if spec.image not in policy or rank[spec.pull] > rank[policy[spec.image].pull]:
                    policy[spec.image] = spec
        failures: list[tuple[str, str]] = []

        def ready(image: str) -> None:
            started = time.monotonic()
            try:
                actions.ensure_image(self.engine, policy[image])
            except HostformError as exc:
                failures.append((image, " ".join(exc.lines())))
            else:
                if time.monotonic() - started > 0.5:  # a pull, not a lookup: worth a line
                    self.on_event(Event("finished", f"image {image}", "pull", time.monotonic() - started))

        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(ready, sorted(users)))
        for image, message in failures:
            for c in users[image]:
                with self._lock:
                    self.report.failed.append((c, message))
                self.on_event(Event("failed", c.address, c.action.value, 0.0, message))
        return not failures

    def _check_started(self) -> None:
        """A container that dies within SETTLE of its start fails the apply, as a failed replacement
        does; it is left as it is (docker logs), and the next plan starts it again."""
        if not self._started or self.stop.is_set():
            return
        self.stop.wait(max(0.0, max(t for _, _, t in self._started) + SETTLE - time.monotonic()))
        for change, ident, _ in self._started:
            verdict = settled(self.engine, ident)
            if verdict.ok:
                continue
            message = f"{change.engine_name} {verdict.detail}"
            with self._lock:
                self.report.done = [c for c in self.report.done if c is not change]
                self.report.failed.append((change, message))
            self.on_event(Event("failed", change.address, change.action.value, 0.0, message))

    def _edges(self, changes: list[Change]) -> dict[str, set[str]]:
        """address -> addresses that must finish first."""
        by_service: dict[str, list[str]] = {}
        for c in changes:
            by_service.setdefault(c.name if c.is_service else f"{c.kind}:{c.name}", []).append(c.address)
        services = self.loaded.stack.services()
        edges: dict[str, set[str]] = {c.address: set() for c in changes}
        for c in changes:
            if not c.is_service:
                continue
            spec = services[c.name]
            needs = [f"network:{a.name}" for a in spec.networks] or [f"network:{names.DEFAULT_NETWORK}"]
            needs += [f"volume:{m.source}" for m in spec.volumes if m.type == "volume"]
            needs += list(spec.depends_on)
            for need in needs:
                edges[c.address].update(by_service.get(need, []))
        # replicas are replaced one after another (a rolling update): the others keep serving
        rolling: dict[str, list[Change]] = {}
        for c in changes:
            if c.is_service and c.action is Action.REPLACE:
                rolling.setdefault(c.name, []).append(c)
        for group in rolling.values():
            group.sort(key=lambda c: c.replica)
            for before, after in zip(group, group[1:], strict=False):
                edges[after.address].add(before.address)
        return edges

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

    def _execute(self, change: Change) -> None:
        started = time.monotonic()
        self.on_event(Event("started", change.address, change.action.value))
        try:
            self._perform(change)
        except Exception as exc:
            message = " ".join(exc.lines()) if isinstance(exc, HostformError) else f"unexpected error: {exc!r}"
            with self._lock:
                self.report.failed.append((change, message))
            self.on_event(Event("failed", change.address, change.action.value, time.monotonic() - started, message))
            raise
        with self._lock:
            self.report.done.append(change)
        self.on_event(Event("finished", change.address, change.action.value, time.monotonic() - started))

    # ------------------------------------------------------------ the actions

    def _perform(self, change: Change) -> None:
        if change.kind == "network":
            self._network(change)
        elif change.kind == "volume":
            self._volume(change)
        elif change.action is Action.DELETE:
            spec = self.loaded.stack.services().get(change.name)
            actions.stop_and_remove(self.engine, _need(change.current_id), spec.stop_grace_period if spec else 10**10)
        else:
            self._await_dependencies(change)
            getattr(self, f"_service_{change.action.value}")(change)

    def _network(self, change: Change) -> None:
        if change.action in (Action.DELETE, Action.REPLACE):
            self._detach_all(_need(change.current_id), change.engine_name)
            self.engine.remove_network(_need(change.current_id))
        if change.action in (Action.CREATE, Action.REPLACE):
            spec = self.loaded.stack.all_networks()[change.name]
            actions.create_network(self.engine, self.loaded.name, change.name, spec, self.plan.key)

    def _detach_all(self, network_id: str, engine_name: str) -> None:
        """The stack's own containers off the network; one of somebody else's stops it all."""
        members = self.engine.network_members(network_id)
        foreign = []
        for ident in members:
            info = self.engine.inspect_container(ident) or {}
            if ((info.get("Config") or {}).get("Labels") or {}).get(names.LABEL_STACK) != self.loaded.name:
                foreign.append(str(info.get("Name") or ident[:12]).lstrip("/"))
        if foreign:
            raise ApplyError(
                f"network {engine_name} has containers hostform does not manage attached "
                f"({', '.join(sorted(foreign))}); hostform never disconnects them: do it by hand, then apply again"
            )
        for ident in members:
            self.engine.disconnect(ident, network_id)

    def _volume(self, change: Change) -> None:
        if change.action is Action.CREATE:
            actions.create_volume(self.engine, self.loaded.name, change.name, self.loaded.stack.volumes[change.name])
        elif change.action is Action.DELETE:
            self.engine.remove_volume(change.engine_name)

    def _await_dependencies(self, change: Change) -> None:
        services = self.loaded.stack.services()
        for dep, condition in services[change.name].depends_on.items():
            dep_spec = services[dep]
            budget = JOB_BUDGET if condition == "completed" else health_budget(dep_spec)
            for replica in range(1, dep_spec.replicas + 1):
                engine_name = names.container_name(self.loaded.name, dep, replica, dep_spec.replicas)
                readiness = wait_for(self.engine, engine_name, condition, budget, self.stop)
                require(readiness, f"dependency {dep!r} ({condition}):")

    def _new_container(self, change: Change, engine_name: str, announce: bool = True) -> str:
        canonical = service_spec(self.loaded, change.name, self.plan.key)
        return actions.create_container(
            self.engine, self.loaded, change.name, change.kind, change.replica, engine_name, canonical, announce
        )

    def _start_or_remove(self, ident: str) -> None:
        """A new container that cannot start (a taken port, say) is removed: a re-run creates it again."""
        try:
            self.engine.start(ident)
        except HostformError:
            self.engine.remove_container(ident)
            raise

    def _run_job(self, change: Change, ident: str) -> None:
        self._start_or_remove(ident)
        readiness = wait_for(self.engine, ident, "completed", JOB_BUDGET, self.abort)
        if not readiness.ok:
            logs = " | ".join(self.engine.logs_tail(ident, 5))
            raise ApplyError(f"job {change.name!r} {readiness.detail}" + (f"; last log lines: {logs}" if logs else ""))

    def _service_create(self, change: Change) -> None:
        ident = self._new_container(change, change.engine_name)
        if change.kind == "job":
            self._run_job(change, ident)
        else:
            self._start_or_remove(ident)
            self._started.append((change, ident, time.monotonic()))

    def _service_start(self, change: Change) -> None:
        self.engine.start(_need(change.current_id))
        if change.kind != "job":
            self._started.append((change, _need(change.current_id), time.monotonic()))

    def _service_restart(self, change: Change) -> None:
        ident = _need(change.current_id)
        self.engine.restart(ident)

    def _service_update(self, change: Change) -> None:
        ident = _need(change.current_id)
        info = self.engine.inspect_container(ident) or {}
        live_nets = {
            net: [a for a in (ep.get("Aliases") or []) if a != ident[:12]]
            for net, ep in ((info.get("NetworkSettings") or {}).get("Networks") or {}).items()
        }
        actions.update_in_place(self.engine, self.loaded, change.name, ident, live_nets)
        self._reload_files(change, ident)
        if (info.get("State") or {}).get("Status") != "running":
            self.engine.start(ident)

    def _reload_files(self, change: Change, ident: str) -> None:
        """Copy changed reloadable config files in, then send each its reload signal (once per signal)."""
        targets = {
            r.path.removeprefix("files[").split("]", 1)[0] for r in change.reasons if r.kind is ReasonKind.RELOAD
        }
        signals: list[str] = []
        for fm in self.loaded.stack.services()[change.name].files:
            if fm.target in targets:
                resolved = self.loaded.files[fm.source]
                self.engine.put_file(ident, fm.target, resolved.data, fm.mode)
                if resolved.reload_signal and resolved.reload_signal not in signals:
                    signals.append(resolved.reload_signal)
        running = (self.engine.inspect_container(ident) or {}).get("State", {}).get("Running", False)
        for sig in signals if running else []:
            self.engine.kill(ident, sig)

    def _service_replace(self, change: Change) -> None:
        old = _need(change.current_id)
        spec = self.loaded.stack.services()[change.name]
        if change.kind == "job":
            self.engine.remove_container(old)
            self._run_job(change, self._new_container(change, change.engine_name))
        elif spec.update.order == "start-first":
            self._replace_start_first(change, old)
        else:
            self._replace_stop_first(change, old)

    def _replace_stop_first(self, change: Change, old: str) -> None:
        spec = self.loaded.stack.services()[change.name]
        new = self._new_container(change, names.temp_name(change.engine_name, names.TEMP_NEW))
        was_running = (self.engine.inspect_container(old) or {}).get("State", {}).get("Running", False)
        self.engine.stop(old, timeout=spec.stop_grace_period // 10**9)
        self.engine.rename(old, names.temp_name(change.engine_name, names.TEMP_OLD))
        try:
            self.engine.start(new)
            require(wait_for(self.engine, new, "ready", health_budget(spec), self.abort), f"new {change.engine_name}")
        except HostformError as exc:
            self._rollback(change, old, new, was_running)
            raise ApplyError(f"{exc}; rolled back: the old container {change.engine_name} is back") from None
        self.engine.remove_container(old)
        self.engine.rename(new, change.engine_name)

    def _replace_start_first(self, change: Change, old: str) -> None:
        spec = self.loaded.stack.services()[change.name]
        # unannounced until ready: the old one alone answers the service name meanwhile
        new = self._new_container(change, names.temp_name(change.engine_name, names.TEMP_NEW), announce=False)
        try:
            self.engine.start(new)
            require(wait_for(self.engine, new, "ready", health_budget(spec), self.abort), f"new {change.engine_name}")
            actions.announce(self.engine, self.loaded, change.name, new)
        except HostformError as exc:
            self.engine.remove_container(new)
            raise ApplyError(f"{exc}; the old container {change.engine_name} keeps serving") from None
        self._out_of_service(old)
        actions.stop_and_remove(self.engine, old, spec.stop_grace_period)
        self.engine.rename(new, change.engine_name)

    def _out_of_service(self, ident: str) -> None:
        """Off its networks first: name lookups stop returning it before it stops answering."""
        info = self.engine.inspect_container(ident) or {}
        for net in (info.get("NetworkSettings") or {}).get("Networks") or {}:
            self.engine.disconnect(ident, net)

    def _rollback(self, change: Change, old: str, new: str, was_running: bool) -> None:
        self.engine.remove_container(new)
        self.engine.rename(old, change.engine_name)
        if was_running:
            self.engine.start(old)


def _need(ident: str | None) -> str:
    if ident is None:
        raise ApplyError("internal: the change names no engine object")
    return ident
