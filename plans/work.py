"""The per-change work on the engine: what each kind of change does to the host.

Images are made ready first (per their pull policy); networks, volumes, containers
and jobs are created, started, updated in place, replaced (plans.replace) or deleted;
depends_on conditions (started, healthy, completed) are waited for before a dependent
is touched; a container that dies right after its start is reported at the end.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from hostform.declare import names
from hostform.declare.canonical import service_spec
from hostform.declare.errors import ApplyError, HostformError
from hostform.declare.load import LoadedStack
from hostform.declare.names import Condition, Kind
from hostform.declare.spec import ContainerSpec
from hostform.plans import replace, routing
from hostform.plans.apply import Event, Interrupt, Notify
from hostform.plans.diff import reload_signals
from hostform.plans.model import ALSO_TAGGED, Action, Change, ReasonKind, ReplaceOrder
from hostform.runtime import actions
from hostform.runtime.engine import Engine
from hostform.runtime.state import read_state
from hostform.runtime.waiting import SETTLE, health_budget, require, settled, wait_for

JOB_BUDGET = 3600.0
JOB_OUTPUT_LINES = 10  # the last lines of a job's output, shown once it completed


def printable(line: str) -> str:
    """A line a container wrote, its control characters escaped: it cannot move the cursor or recolour."""
    return line if line.isprintable() else json.dumps(line, ensure_ascii=False)[1:-1]


def prepare_images(
    engine: Engine, loaded: LoadedStack, changes: Sequence[Change], notify: Notify
) -> list[tuple[Change, str]]:
    """Every image a create or replace needs, pulled per its policy before anything is touched,
    so a tag that cannot be pulled stops the apply before it starts, not halfway through."""
    services = loaded.stack.services()
    users: dict[str, list[Change]] = {}
    policy: dict[str, ContainerSpec] = {}
    rank = {"never": 0, "missing": 1, "always": 2}
    for c in changes:
        if c.is_service and c.action in (Action.CREATE, Action.REPLACE):
            spec = services[c.name]
            if spec.build is not None:
                continue  # made by its build (or already there, under its content tag)
            users.setdefault(spec.image, []).append(c)
            if spec.image not in policy or rank[spec.pull] > rank[policy[spec.image].pull]:
                policy[spec.image] = spec
    failures: list[tuple[str, str]] = []

    def ready(image: str) -> None:
        started = time.monotonic()
        try:
            actions.ensure_image(engine, policy[image])
        except HostformError as exc:
            failures.append((image, " ".join(exc.lines())))
        else:
            if time.monotonic() - started > 0.5:  # a pull, not a lookup: worth a line
                notify(Event("finished", f"image {image}", "pull", time.monotonic() - started))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(ready, sorted(users)))
    return [(c, message) for image, message in failures for c in users[image]]


def make_images(
    engine: Engine, loaded: LoadedStack, changes: Sequence[Change], notify: Notify, parallelism: int
) -> list[tuple[Change, str]]:
    """Builds (and pushes) before anything on the host is touched, up to `parallelism` at once,
    each step a `progress` event; the ones that failed, with why."""
    from hostform.runtime import images

    failed: list[tuple[Change, str]] = []

    def make(change: Change) -> None:
        ref = loaded.builds[change.name]
        started = time.monotonic()
        notify(Event("started", change.address, change.action.value, message=ref.ref))
        also = list({b.ref: b for b in loaded.builds.values() if b.ref in _also_tagged(change)}.values())
        try:
            if change.action is Action.BUILD and change.current_id:  # the same build, made under another name
                images.tag(engine, change.current_id, ref)
            elif change.action is Action.BUILD:
                step = lambda line: notify(Event("progress", change.address, "build", message=line))  # noqa: E731
                images.build(engine, loaded.name, ref, step)
            for other in also:
                images.tag(engine, ref.ref, other)
                notify(Event("progress", change.address, "build", message=f"tagged {other.ref}"))
            for one in [ref, *also] if ref.push or change.action is Action.PUSH else []:
                notify(Event("progress", change.address, "push", message=f"pushing {one.ref}"))
                digest = images.push(engine, one)
                notify(Event("progress", change.address, "push", message=f"pushed {one.repository}@{digest}"))
        except HostformError as exc:
            failed.append((change, " ".join(exc.lines())))
            return
        notify(Event("finished", change.address, change.action.value, time.monotonic() - started))

    with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
        list(pool.map(make, [c for c in changes if c.is_image]))
    return failed


def _also_tagged(change: Change) -> set[str]:
    """The other repo:tags the plan says this build is tagged in (services with the same build)."""
    return {
        str(t) for r in change.reasons if r.kind is ReasonKind.BUILD and r.path == ALSO_TAGGED for t in r.after or ()
    }


class EngineWork:
    """The applier's `Work` on a Docker engine."""

    def __init__(
        self,
        engine: Engine,
        loaded: LoadedStack,
        key: bytes,
        parallelism: int = 10,
        builder: Engine | None = None,
        notify: Notify = lambda e: None,
        completed: frozenset[str] = frozenset(),
    ) -> None:
        self.engine = engine
        self.notify = notify  # what a change is doing while it runs (a signal sent, a job's output)
        self.completed = completed  # jobs the record says completed with their spec (their container is gone)
        self.loaded = loaded
        self.key = key  # the stack's secret-hashing key, as the plan has it
        self.parallelism = parallelism  # builds at once, as the applier's actions
        self.builder = builder or engine  # where images are built (and pushed from)
        self.by_digest: dict[str, str] = {}  # service -> repository@digest it runs (built on another engine)
        self._started: list[tuple[Change, str, float]] = []  # created or started here: checked at the end
        self._lock = threading.Lock()

    def prepare(self, changes: Sequence[Change], notify: Notify) -> list[tuple[Change, str]]:
        failed = make_images(self.builder, self.loaded, changes, notify, self.parallelism)
        failed = failed or self._pull_by_digest(changes, notify)
        failed = failed or prepare_images(self.engine, self.loaded, changes, notify)
        return failed or self._check_file_targets(changes)

    def _check_file_targets(self, changes: Sequence[Change]) -> list[tuple[Change, str]]:
        """Every file target of a container to create or replace, checked against its image once
        the images are ready and before anything is touched: a folder there (the copy would
        replace it) is refused now, not halfway through the apply."""
        services = self.loaded.stack.services()
        users: dict[str, list[Change]] = {}
        for c in changes:
            if c.is_service and c.action in (Action.CREATE, Action.REPLACE) and services[c.name].files:
                users.setdefault(self.by_digest.get(c.name) or services[c.name].image, []).append(c)
        failed = []
        for image, those in sorted(users.items()):
            targets = sorted({fm.target for c in those for fm in services[c.name].files})
            try:
                folders = actions.folders_in_image(
                    self.engine, self.loaded, those[0].name, those[0].kind, image, targets
                )
            except HostformError as exc:
                failed += [(c, " ".join(exc.lines())) for c in those]
                continue
            for c in those:
                bad = [fm.target for fm in services[c.name].files if fm.target in folders]
                if bad:
                    failed.append((c, "; ".join(_folder_target(t, image) for t in bad)))
        return failed

    def _pull_by_digest(self, changes: Sequence[Change], notify: Notify) -> list[tuple[Change, str]]:
        """Images built on another engine: the target pulls what was pushed, by digest."""
        from hostform.runtime import images

        failed = []
        for c in changes:
            ref = self.loaded.builds.get(c.name)
            if ref is None or not ref.remote or not c.is_service or c.action not in (Action.CREATE, Action.REPLACE):
                continue
            try:
                digest = images.pushed_digest(self.builder, ref)
                if digest is None:
                    raise ApplyError(f"{ref.ref} has no registry digest on the build engine: it was not pushed")
                pinned = f"{ref.repository}@{digest}"
                if pinned not in self.by_digest.values() and self.engine.image_id(pinned) is None:
                    started = time.monotonic()
                    images.pull_by_digest(self.engine, ref.repository, digest)
                    notify(Event("finished", f"image {pinned}", "pull", time.monotonic() - started))
                self.by_digest[c.name] = pinned
            except HostformError as exc:
                failed.append((c, " ".join(exc.lines())))
        return failed

    def check_started(self, interrupt: Interrupt) -> list[tuple[Change, str]]:
        """A container that dies within SETTLE of its start fails the apply, as a failed replacement
        does; it is left as it is (docker logs), and the next plan starts it again."""
        if not self._started:
            return []
        interrupt.stop.wait(max(0.0, max(t for _, _, t in self._started) + SETTLE - time.monotonic()))
        # one inspect each, overlapped on a remote engine: not one round trip after another
        verdicts = self.engine.each(lambda started: settled(self.engine, started[1]), self._started)
        return [
            (change, f"{change.engine_name} {verdict.detail}")
            for (change, _, _), verdict in zip(self._started, verdicts, strict=True)
            if not verdict.ok
        ]

    def perform(self, change: Change, interrupt: Interrupt) -> None:
        if change.kind == Kind.NETWORK:
            self._network(change)
        elif change.kind == Kind.VOLUME:
            self._volume(change)
        elif change.action is Action.DELETE:
            spec = self.loaded.stack.services().get(change.name)
            grace = spec.stop_grace_period if spec else 10**10
            if change.kind == Kind.CONTAINER:
                routing.retire_if_routed(self.engine, self.loaded.name, change.name, need(change.current_id), grace)
            actions.stop_and_remove(self.engine, need(change.current_id), grace)
        else:
            self._await_dependencies(change, interrupt.stop)
            if change.action is Action.CREATE:
                self._create(change, interrupt)
            elif change.action is Action.START:
                self._start(change)
            elif change.action is Action.RESTART:
                self.engine.restart(need(change.current_id))
            elif change.action is Action.UPDATE:
                self._update(change)
            elif change.action is Action.REPLACE:
                self._replace(change, interrupt)
            else:
                raise ApplyError(f"internal: no work for {change.action.value} of {change.address}")

    def _say(self, change: Change, message: str) -> None:
        self.notify(Event("progress", change.address, change.action.value, message=message))

    # ------------------------------------------------------------ networks and volumes

    def _network(self, change: Change) -> None:
        if change.action in (Action.DELETE, Action.REPLACE):
            self._detach_all(need(change.current_id), change.engine_name)
            self.engine.remove_network(need(change.current_id))
        if change.action in (Action.CREATE, Action.REPLACE):
            spec = self.loaded.stack.all_networks()[change.name]
            actions.create_network(self.engine, self.loaded.name, change.name, spec, self.key)

    def _detach_all(self, network_id: str, engine_name: str) -> None:
        """The stack's own containers off the network; one of somebody else's stops it all."""
        members = self.engine.network_members(network_id)
        foreign = []
        adopted: set[str] | None = None
        for ident in members:
            state = read_state(self.engine, ident)
            if state is not None and state.labels.get(names.LABEL_STACK) == self.loaded.name:
                continue
            adopted = self._adopted_containers() if adopted is None else adopted
            if state is None or ident not in adopted:
                foreign.append(state.engine_name if state else ident[:12])
        if foreign:
            raise ApplyError(
                f"network {engine_name} has containers hostform does not manage attached "
                f"({', '.join(sorted(foreign))}); hostform never disconnects them: do it by hand, then apply again"
            )
        for ident in members:
            self.engine.disconnect(ident, network_id)

    def _adopted_containers(self) -> set[str]:
        """IDs of the containers `hostform adopt` took over (unlabelled, yet the stack's own): the record says."""
        from hostform.runtime.observe import observe

        observed = observe(self.engine, self.loaded.name, inspect=False)
        return {c.id for c in observed.containers if c.adopted}

    def _volume(self, change: Change) -> None:
        if change.action is Action.CREATE:
            actions.create_volume(self.engine, self.loaded.name, change.name, self.loaded.stack.volumes[change.name])
        elif change.action is Action.DELETE:
            self.engine.remove_volume(change.engine_name)

    # ------------------------------------------------------------ containers and jobs

    def _await_dependencies(self, change: Change, stop: threading.Event) -> None:
        services = self.loaded.stack.services()
        for dep, declared in services[change.name].depends_on.items():
            dep_spec = services[dep]
            condition = Condition(declared)
            if condition is Condition.COMPLETED and dep in self.completed:
                continue  # ran to completion with this spec, as recorded: not run again, nothing to wait for
            budget = JOB_BUDGET if condition is Condition.COMPLETED else health_budget(dep_spec)
            for replica in range(1, dep_spec.replicas + 1):
                engine_name = names.container_name(self.loaded.name, dep, replica, dep_spec.replicas)
                readiness = wait_for(self.engine, engine_name, condition, budget, stop)
                require(readiness, f"dependency {dep!r} ({condition}):")

    def new_container(self, change: Change, engine_name: str, announce: bool = True) -> str:
        canonical = service_spec(self.loaded, change.name, self.key)
        image = self.by_digest.get(change.name)
        return actions.create_container(
            self.engine, self.loaded, change.name, change.kind, change.replica, engine_name, canonical, announce, image
        )

    def _start_or_remove(self, ident: str) -> None:
        """A new container that cannot start (a taken port, say) is removed: a re-run creates it again."""
        try:
            self.engine.start(ident)
        except HostformError:
            self.engine.remove_container(ident)
            raise

    def _run_job(self, change: Change, ident: str, abort: threading.Event) -> None:
        self._start_or_remove(ident)
        readiness = wait_for(self.engine, ident, Condition.COMPLETED, JOB_BUDGET, abort)
        if not readiness.ok:
            logs = " | ".join(printable(line) for line in self.engine.logs_tail(ident, 5))
            raise ApplyError(f"job {change.name!r} {readiness.detail}" + (f"; last log lines: {logs}" if logs else ""))
        for line in self.engine.logs_tail(ident, JOB_OUTPUT_LINES):
            self.notify(Event("output", change.address, change.action.value, message=printable(line)))

    def _watch(self, change: Change, ident: str) -> None:
        with self._lock:
            self._started.append((change, ident, time.monotonic()))

    def _create(self, change: Change, interrupt: Interrupt) -> None:
        ident = self.new_container(change, change.engine_name)
        if change.kind == Kind.JOB:
            self._run_job(change, ident, interrupt.abort)
        else:
            self._start_or_remove(ident)
            self._watch(change, ident)
            if routing.routed(self.loaded.stack.containers.get(change.name)):
                self._serve(change, ident, interrupt.abort)

    def _serve(self, change: Change, ident: str, abort: threading.Event) -> None:
        """A new container with a route joins the proxy once ready."""
        spec = self.loaded.stack.containers[change.name]
        require(wait_for(self.engine, ident, Condition.READY, health_budget(spec), abort), change.engine_name)
        self._attach(change.name, ident)

    def _attach(self, name: str, ident: str) -> None:
        routing.attach(self.engine, self.loaded, name, ident, service_spec(self.loaded, name, self.key))

    def _start(self, change: Change) -> None:
        self.engine.start(need(change.current_id))
        if change.kind != Kind.JOB:
            self._watch(change, need(change.current_id))

    def _update(self, change: Change) -> None:
        ident = need(change.current_id)
        if any(r.kind is ReasonKind.RENAME for r in change.reasons):
            self.engine.rename(ident, change.engine_name)  # an adopted container: the same one, renamed
        state = read_state(self.engine, ident)
        route_changed = change.kind == Kind.CONTAINER and any(r.path == "route" for r in change.reasons)
        spec = self.loaded.stack.services()[change.name]
        if route_changed and spec.route is None:  # out of the proxy before it leaves the edge network
            routing.forget(self.engine, self.loaded.name, change.name)
        live_nets = {net: list(aliases) for net, aliases in (state.networks if state else {}).items()}
        actions.update_in_place(self.engine, self.loaded, change.name, ident, live_nets)
        self._reload_files(change, ident)
        if state is None or state.status != "running":
            self.engine.start(ident)
        if route_changed and spec.route is not None:
            self._attach(change.name, ident)

    def _reload_files(self, change: Change, ident: str) -> None:
        """Copy changed reloadable config files in, then send each its reload signal (once per signal)."""
        targets = {
            r.path.removeprefix("files[").split("]", 1)[0] for r in change.reasons if r.kind is ReasonKind.RELOAD
        }
        spec = self.loaded.stack.services()[change.name]
        for fm in spec.files:
            if fm.target in targets:
                self.engine.put_file(ident, fm.target, self.loaded.files[fm.source].data, fm.mode)
        state = read_state(self.engine, ident)
        for sig in reload_signals(self.loaded, spec, change.reasons) if state is not None and state.running else []:
            self._say(change, f"reload: {sig} to {change.engine_name}")
            self.engine.kill(ident, sig)

    def _replace(self, change: Change, interrupt: Interrupt) -> None:
        old = need(change.current_id)
        spec = self.loaded.stack.services()[change.name]
        say = lambda line: self._say(change, line)  # noqa: E731
        if change.kind == Kind.JOB:
            self.engine.remove_container(old)
            self._run_job(change, self.new_container(change, change.engine_name), interrupt.abort)
            return  # a job is run again, never replaced as a container that stays up
        attach = (lambda ident: self._attach(change.name, ident)) if routing.routed(spec) else None
        if (change.order or _declared_order(spec)) is ReplaceOrder.START_FIRST:
            replace.start_first(self.engine, self.loaded, change, old, self.new_container, interrupt.abort, attach, say)
        else:
            replace.stop_first(self.engine, self.loaded, change, old, self.new_container, interrupt.abort, attach, say)


def _folder_target(target: str, image: str) -> str:
    return f"file target {target} is a folder in the image {image}: name a file (e.g. {target.rstrip('/')}/app.conf)"


def _declared_order(spec: ContainerSpec) -> ReplaceOrder:
    return ReplaceOrder.START_FIRST if spec.update.order == "start-first" else ReplaceOrder.STOP_FIRST


def need(ident: str | None) -> str:
    if ident is None:
        raise ApplyError("internal: the change names no engine object")
    return ident
