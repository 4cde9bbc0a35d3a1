"""The applier on Swarm: networks, configs and secrets first; services in dependency order, each
waited for until Swarm has converged it; deletions last (services, then unused configs, secrets
and networks).

Converged means: no update in progress, as many running tasks as desired, and after a change to
the task template every running task made since the update. A rollback or a pause by Swarm fails
the apply, naming the failing task's error; tasks pending because no node fits fail it with the
scheduler's message after a short grace, never a hang. Waits are bounded by a budget taken from
the update settings.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, replace

from hostform.declare import names
from hostform.declare.errors import ApplyError, HostformError
from hostform.declare.load import LoadedStack
from hostform.declare.spec import Healthcheck
from hostform.plans.apply import ApplyReport, Event
from hostform.plans.model import Action, Change, Plan, ReasonKind
from hostform.runtime import swarm
from hostform.runtime.engine import Engine
from hostform.runtime.swarm import SwarmService, SwarmTask
from hostform.runtime.swarm_spec import file_engine_name, file_labels, service_body

PENDING_GRACE = 8.0  # seconds a task may wait for a node before the scheduler's reason is final
JOB_BUDGET = 3600.0
POLL = 0.3
STARTING = ("new", "pending", "assigned", "accepted", "preparing", "ready", "starting")


@dataclass(frozen=True)
class Budget:
    seconds: float

    @staticmethod
    def of(loaded: LoadedStack, name: str) -> Budget:
        spec = loaded.stack.services()[name]
        if name in loaded.stack.jobs:
            return Budget(JOB_BUDGET)
        u = spec.update
        batches = -(-max(spec.replicas, 1) // u.parallelism) if u.parallelism else 1
        per_batch = (u.monitor + u.delay) / 10**9 + 30.0
        health = 0.0
        if spec.healthcheck is not None and not spec.healthcheck.disable:
            hc = spec.healthcheck
            health = (hc.start_period + hc.interval * (hc.retries + 1)) / 10**9
        return Budget(60.0 + batches * (per_batch + health) * 2)  # twice: an update, then its rollback


class SwarmApplier:
    def __init__(
        self,
        engine: Engine,
        loaded: LoadedStack,
        plan: Plan,
        parallelism: int = 10,
        on_event: Callable[[Event], None] = lambda e: None,
        builder: Engine | None = None,
    ) -> None:
        self.engine = engine
        self.builder = builder or engine  # where images are built and pushed from (the manager's by default)
        # on Swarm a built image always goes to its registry: every node pulls it from there
        self.loaded = replace(loaded, builds={n: replace(b, push=True) for n, b in loaded.builds.items()})
        self.plan = plan
        self.parallelism = max(1, parallelism)
        self.on_event = on_event
        self.report = ApplyReport()
        self.stop = threading.Event()
        self.abort = threading.Event()
        self._lock = threading.Lock()
        self._removed_jobs: set[str] = set()  # removed to replace a network they joined: made anew

    def run(self) -> ApplyReport:
        changes = self.plan.actionable
        if not self._images([c for c in changes if c.is_image]):
            for c in changes:
                if not c.is_image:
                    self._skip(c, "nothing was changed: an image could not be made ready")
            return self.report
        first = [c for c in changes if c.action is not Action.DELETE and not c.is_service and not c.is_image]
        services = [c for c in changes if c.action is not Action.DELETE and c.is_service]
        deletions = [c for c in changes if c.action is Action.DELETE]
        for change in first:
            self._step(change, self._create_object)
        self._file_ids = swarm.file_ids(self.engine, self.loaded.name)
        self._services(services)
        if self.report.failed or self.report.skipped or self.stop.is_set():
            for c in deletions:
                self._skip(c, "deletions wait until everything else converged")
        else:
            for kind in (("container", "job"), ("config", "secret"), ("network",)):
                for change in (c for c in deletions if c.kind in kind):
                    self._step(change, self._delete)
        self.report.interrupted = self.stop.is_set()
        return self.report

    # ------------------------------------------------------------ walking

    def _services(self, changes: list[Change]) -> None:
        """Dependents wait for the services they depend on to converge (or skip when those fail)."""
        todo = {c.name: c for c in changes}
        done: set[str] = set()
        failed: set[str] = set()
        running: dict[Future[bool], str] = {}
        deps = {n: set(self.loaded.stack.services()[n].depends_on) & set(todo) for n in todo}
        with ThreadPoolExecutor(max_workers=self.parallelism) as pool:
            while todo or running:
                for name in sorted(todo):
                    if self.stop.is_set():
                        self._skip(todo.pop(name), "interrupted")
                    elif deps[name] & failed:
                        failed.add(name)
                        self._skip(todo.pop(name), f"it depends on {sorted(deps[name] & failed)[0]!r}, which failed")
                    elif deps[name] <= done:
                        change = todo.pop(name)
                        running[pool.submit(self._step, change, self._apply_service)] = name
                if not running:
                    continue
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    name = running.pop(future)
                    (done if future.result() else failed).add(name)

    def _step(self, change: Change, action: Callable[[Change], None]) -> bool:
        t0 = time.monotonic()
        self.on_event(Event("started", change.address, change.action.value))
        try:
            action(change)
        except HostformError as exc:
            with self._lock:
                self.report.failed.append((change, str(exc)))
            self.on_event(Event("failed", change.address, change.action.value, time.monotonic() - t0, str(exc)))
            return False
        with self._lock:
            self.report.done.append(change)
        self.on_event(Event("finished", change.address, change.action.value, time.monotonic() - t0))
        return True

    def _skip(self, change: Change, why: str) -> None:
        with self._lock:
            self.report.skipped.append(change)
            self.report.why_skipped[change.address] = why
        self.on_event(Event("skipped", change.address, change.action.value, message=why))

    def _images(self, changes: list[Change]) -> bool:
        """Builds and pushes before anything on the cluster is touched; False when one failed."""
        from hostform.plans.work import make_images

        failed = make_images(self.builder, self.loaded, changes, self.on_event, self.parallelism)
        with self._lock:
            self.report.failed.extend(failed)
            self.report.done.extend(c for c in changes if all(c is not f for f, _ in failed))
        return not failed

    # ------------------------------------------------------------ objects

    def _create_object(self, change: Change) -> None:
        stack = self.loaded.name
        if change.kind == "network" and change.action is Action.REPLACE:
            self._replace_network(change)
        elif change.kind == "network":
            self._create_network(change)
        else:
            resolved = self.loaded.files[change.name]
            labels = file_labels(stack, resolved, self.plan.key)
            assert file_engine_name(stack, resolved, self.plan.key) == change.engine_name
            swarm.create_file(self.engine, change.kind, change.engine_name, resolved.data, labels)

    def _replace_network(self, change: Change) -> None:
        """A network cannot be updated: its services are detached (a rolling update each; a job,
        which an update would run again, is removed and made anew), it is removed and made again;
        the services join the new one in their own update, later in the apply."""
        assert change.current_id is not None
        declared = self.loaded.stack.services()
        for svc in swarm.services_on(self.engine, self.loaded.name, change.current_id):
            if svc.kind == "job":
                swarm.remove_service(self.engine, svc.id)
                self._removed_jobs.add(svc.name)
                continue
            swarm.detach_network(self.engine, svc.id, change.current_id)
            if svc.name in declared:
                self._converge(svc.id, svc.name, Budget.of(self.loaded, svc.name), True)
        _while_in_use(lambda: swarm.remove_network(self.engine, str(change.current_id)), 120)
        self._create_network(change)

    def _create_network(self, change: Change) -> None:
        stack = self.loaded.name
        labels = names.owner_labels(stack, change.name, "network")
        spec = self.loaded.stack.networks.get(change.name)
        if spec is not None:
            labels = {**spec.labels, **labels}
        if change.name == names.DEFAULT_NETWORK and self.plan.key:
            labels[names.LABEL_KEY] = self.plan.key.hex()  # the stack's secret-hashing key
        options = {}
        if spec is not None:
            options = {"internal": spec.internal, "options": spec.options or None}
            if spec.subnet:
                import docker.types

                pool = docker.types.IPAMPool(subnet=spec.subnet, gateway=spec.gateway)
                options["ipam"] = docker.types.IPAMConfig(pool_configs=[pool])
        swarm.create_network(self.engine, change.engine_name, labels, **options)

    def _delete(self, change: Change) -> None:
        assert change.current_id is not None
        if change.is_service:
            swarm.remove_service(self.engine, change.current_id)
        elif change.kind == "network":
            swarm.remove_network(self.engine, change.current_id)
        else:
            ident = change.current_id
            _while_in_use(lambda: swarm.remove_file(self.engine, change.kind, ident), 30)

    # ------------------------------------------------------------ services

    def _apply_service(self, change: Change) -> None:
        name = change.name
        image = self._image(name)
        body = service_body(self.loaded, name, self.plan.key, image, self._file_ids)
        template_changed = True
        if change.action is Action.CREATE:
            ident = swarm.create_service(self.engine, body)
        else:
            live = swarm.inspect_service(self.engine, change.engine_name)
            if live is None and name in self._removed_jobs:  # removed with the network it joined
                ident = swarm.create_service(self.engine, body)
            elif live is None:
                raise ApplyError(f"service {change.engine_name} is gone: plan again")
            else:
                ident = live.id
                template_changed = _template_changed(change)
                forced = any(r.kind is ReasonKind.FORCED for r in change.reasons)  # --replace: every task anew
                body["TaskTemplate"]["ForceUpdate"] = live.force_update + (1 if forced else 0)  # 0 would roll too
                swarm.update_service(self.engine, live.id, live.version, body)
        self._converge(ident, name, Budget.of(self.loaded, name), template_changed)

    def _image(self, name: str) -> str:
        ref = self.loaded.stack.services()[name].image
        pinned, problems = swarm.resolve_images(self.engine, [ref])
        if pinned[ref] is None:
            raise ApplyError(problems[ref])
        return str(pinned[ref])

    def _converge(self, ident: str, name: str, budget: Budget, template_changed: bool) -> None:
        deadline = time.monotonic() + budget.seconds
        pending_since: float | None = None
        job = name in self.loaded.stack.jobs
        while True:
            svc = swarm.inspect_service(self.engine, ident)
            if svc is None:
                raise ApplyError(f"service {ident[:12]} disappeared")
            tasks = swarm.service_tasks(self.engine, ident)
            verdict = _job_verdict(svc, tasks) if job else _verdict(svc, tasks, template_changed)
            if verdict is True:
                return
            stuck = _unschedulable(tasks)
            pending_since = (pending_since or time.monotonic()) if stuck else None
            if stuck and pending_since is not None and time.monotonic() - pending_since > PENDING_GRACE:
                raise ApplyError(f"tasks cannot be scheduled: {stuck}")
            if isinstance(verdict, str):
                raise ApplyError(verdict + self._health_hint(name, tasks))
            if self.abort.is_set():
                raise ApplyError("interrupted while waiting for the service to converge")
            if time.monotonic() > deadline:
                raise ApplyError(f"not converged after {budget.seconds:.0f}s: {_progress(svc, tasks)}")
            time.sleep(POLL)

    def _health_hint(self, name: str, tasks: list[SwarmTask]) -> str:
        """Where the failing healthcheck's output is: Swarm's task status carries only the error
        ("unhealthy container"); the health log stays with the container, on its node."""
        unhealthy = _last_failed(t for t in tasks if "unhealthy" in t.error)
        if unhealthy is None:
            return ""
        nodes = {n.id: n.hostname for n in swarm.nodes(self.engine)}
        return health_hint(self.loaded.stack.services()[name].healthcheck, unhealthy, nodes.get(unhealthy.node_id, ""))


def health_hint(healthcheck: Healthcheck | None, task: SwarmTask, node: str) -> str:
    test = ""
    if healthcheck is not None and healthcheck.test:
        kind, *rest = healthcheck.test
        test = " " + repr(" ".join(rest) if kind in ("CMD-SHELL", "CMD") else " ".join(healthcheck.test))
    where = f" on node {node}" if node else ""
    look = (
        f" (docker inspect --format '{{{{json .State.Health.Log}}}}' {task.container_id[:12]})"
        if task.container_id
        else ""
    )
    return f"; healthcheck{test} failing; Swarm keeps no health output: it stays with the container{where}{look}"


def _last_failed(tasks: Iterable[SwarmTask]) -> SwarmTask | None:
    failed = sorted(
        (t for t in tasks if t.error and t.state in ("failed", "rejected", "shutdown")), key=lambda t: t.updated
    )
    return failed[-1] if failed else None


def _while_in_use(remove: Callable[[], None], seconds: float) -> None:
    """Retried while Swarm says the object is in use: the tasks of a service removed or updated a
    moment ago still hold it until they are shut down."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            remove()
            return
        except HostformError as exc:
            if "in use" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _template_changed(change: Change) -> bool:
    """Only a replica count changed: a scale, no task is replaced."""
    paths = {r.path for r in change.reasons if r.kind is ReasonKind.FIELD and r.path}
    others = [r for r in change.reasons if r.kind is not ReasonKind.FIELD]
    return bool(paths - {"replicas"}) or bool(others)


def _verdict(svc: SwarmService, tasks: list[SwarmTask], template_changed: bool) -> bool | str | None:
    """True when converged, a message when Swarm gave up (rollback, pause), None while in progress."""
    state = svc.update_state
    if state in ("rollback_completed", "rollback_paused", "paused"):
        what = {"paused": "paused the update"}.get(state, "rolled the update back")
        return f"Swarm {what}" + (f" ({svc.update_message})" if svc.update_message else "") + _task_error(tasks)
    if state in ("updating", "rollback_started"):
        return None
    wanted = [t for t in tasks if t.desired_state == "running"]
    running = [t for t in wanted if t.state == "running"]
    if svc.mode == "replicated" and len(running) != svc.replicas:
        return None
    if svc.mode == "global" and (not running or len(running) != len(wanted)):
        return None
    if template_changed and any(t.spec_digest != svc.template_digest for t in running):
        return None  # tasks of the old spec still run
    return True


def _job_verdict(svc: SwarmService, tasks: list[SwarmTask]) -> bool | str | None:
    current = [t for t in tasks if t.spec_digest == svc.template_digest]
    if any(t.state == "complete" for t in current):
        return True
    failed = [t for t in current if t.state in ("failed", "rejected")]
    if failed and not any(
        t.desired_state in ("running", "complete") and t.state in STARTING + ("running",) for t in current
    ):
        return f"the job failed: {failed[-1].error or failed[-1].state}"
    return None


def _unschedulable(tasks: list[SwarmTask]) -> str:
    """The scheduler's own message for tasks no node can take ('' when none is stuck)."""
    stuck = [t for t in tasks if t.desired_state == "running" and t.state == "pending" and t.error]
    return stuck[0].error if stuck else ""


def _task_error(tasks: list[SwarmTask]) -> str:
    failed = _last_failed(tasks)
    return f"; task error: {failed.error}" if failed else ""


def _progress(svc: SwarmService, tasks: list[SwarmTask]) -> str:
    wanted = [t for t in tasks if t.desired_state == "running"]
    running = sum(t.state == "running" for t in wanted)
    desired = svc.replicas if svc.mode == "replicated" else len(wanted)
    return f"{running}/{desired} tasks running" + _task_error(tasks)
