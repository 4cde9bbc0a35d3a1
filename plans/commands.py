"""The commands that talk to the engine, each a short pipeline of named stages."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from hostform.declare.bounds import located
from hostform.declare.errors import ApplyFailed, HostformError, StackError
from hostform.declare.frozen import changed
from hostform.declare.load import LoadedStack, load
from hostform.declare.names import Address, Kind
from hostform.declare.stack_cache import enabled_by_env as stack_cache_enabled
from hostform.plans.diff import PlanOptions, adopted_deletes, destroy_plan, make_plan, spare_held
from hostform.plans.model import Plan
from hostform.plans.options import (
    AdoptCommand,
    ApplyCommand,
    DestroyCommand,
    DriftCommand,
    EngineOptions,
    Exit,
    HistoryCommand,
    ListCommand,
    PlanCommand,
    PruneImagesCommand,
    ShowCommand,
    StackOptions,
    UnlockCommand,
    access_of,
)
from hostform.plans.render import counted, plan_json, print_lines, print_plan
from hostform.runtime.engine import Engine
from hostform.runtime.observe import observe, observe_stack
from hostform.runtime.records import Observed

if TYPE_CHECKING:  # the applier, the live view, the lock and saved plans: imported by the commands that apply
    from hostform.plans import drift
    from hostform.plans.apply import Applier, ApplyReport, Event
    from hostform.plans.planfile import SavedPlan
    from hostform.plans.progress import LiveTable
    from hostform.plans.swarm_apply import SwarmApplier
    from hostform.runtime.swarm import SwarmObserved


# ---------------------------------------------------------------- stages


def stage_load(stack: StackOptions, secrets_optional: bool = False, read_secrets: bool = True) -> LoadedStack:
    """The stack, with every image built from a folder tagged by its content.
    secrets_optional: an unset secret stands for the one last applied (drift, which applies nothing).
    read_secrets: False for the commands that need no value (destroy, prune-images): no secrets
    file is decrypted, no secret command runs."""
    with located("loading the stack"):
        loaded = load(
            stack.stack,
            list(stack.var_file),
            list(stack.var),
            access=access_of(stack),
            target=stack.on,
            secrets_optional=secrets_optional,
            cache=not stack.no_cache and stack_cache_enabled(),
            read_secrets=read_secrets,
        )
    if not any(s.build for s in loaded.stack.services().values()):
        return loaded  # nothing to build: the build-context reader is not even imported
    from hostform.runtime.build_context import resolve_builds

    with located("hashing the build contexts"):
        return resolve_builds(loaded)


def stage_connect(options: EngineOptions, loaded: LoadedStack | None = None, check_manager: bool = True) -> Engine:
    """`check_manager` False: a Swarm stack's first observation checks the manager (plan)."""
    from hostform.runtime.tls import tls_settings

    o = options
    tls = tls_settings(o.tls, o.tlsverify, o.tlscacert, o.tlscert, o.tlskey)
    engine = Engine(o.host, tls=tls)
    swarm = loaded is not None and loaded.stack.on_swarm
    if not engine.remote and not swarm:  # a remote engine's (a manager's) first read fails as clearly
        engine.ping()
    if swarm:
        from hostform.plans import swarm_commands

        swarm_commands.connect(engine, check=check_manager)
    return engine


def stage_observe(engine: Engine, loaded: LoadedStack, builder: Engine | None = None) -> Observed:
    return observe_stack(engine, loaded, builder)


def stage_builder(
    build_host: str | None, host: str | None, engine: Engine, loaded: LoadedStack
) -> tuple[LoadedStack, Engine]:
    """The engine that builds the stack's images: --build-host (HOSTFORM_BUILD_HOST), else the target
    engine, unless --host named the target, then the Docker way's engine (the build server's own).
    Images built on another engine than the target go through their registry and run by digest."""
    import os
    from dataclasses import replace

    from hostform.runtime.engine import engine_address

    if not loaded.builds:
        return loaded, engine
    given = build_host or os.environ.get("HOSTFORM_BUILD_HOST")
    address = engine_address(given) if given else engine_address(None) if host else None
    address = address or ("unix:///var/run/docker.sock" if given or host else engine.address)
    if address == engine.address:
        return loaded, engine
    unregistered = sorted(n for n, b in loaded.builds.items() if b.registry is None)
    if unregistered:
        raise HostformError(
            f"{', '.join(unregistered)}: built on {address} to run on {engine.address}, the image must go "
            "through a registry: set [stack] registry, or an image naming a registry host"
        )
    builder = Engine(address)
    builder.ping()
    builds = {n: replace(b, push=True, remote=True) for n, b in loaded.builds.items()}
    return replace(loaded, builds=builds), builder


def stage_plan(
    loaded: LoadedStack,
    observed: Observed,
    replace: tuple[str, ...] = (),
    target: tuple[str, ...] = (),
    prune_volumes: bool = False,
) -> Plan:
    return make_plan(loaded, observed, plan_options(loaded, replace, target, prune_volumes))


def stage_spare(engine: Engine, plan: Plan, observed: Observed) -> Plan:
    """No stack removes what another stack's record holds: read (every stack's record, two
    listings) only when the plan deletes an adopted object."""
    if not adopted_deletes(plan, observed):
        return plan
    from hostform.runtime.record import held_by_others

    return spare_held(plan, held_by_others(engine, plan.stack))


def plan_options(
    loaded: LoadedStack, replace: tuple[str, ...] = (), target: tuple[str, ...] = (), prune_volumes: bool = False
) -> PlanOptions:
    """--replace and --target checked against the stack (one error naming the flag), on either target."""
    return PlanOptions(
        replace=tuple(_resource(loaded, "--replace", r) for r in replace),
        targets=tuple(_resource(loaded, "--target", t).split("[")[0] for t in target),
        prune_volumes=prune_volumes,
    )


def stage_host_checks(engine: Engine, loaded: LoadedStack, plan: Plan, strict: bool, netns: str | None) -> Plan:
    """What the host's network would refuse halfway through an apply (ports, addresses, subnets).
    A plan with no changes binds and creates nothing: the checks are not even imported."""
    if not plan.has_changes:
        return plan
    from hostform.plans.hostcheck import with_host_checks

    return with_host_checks(engine, loaded, plan, strict, netns)


def _resource(loaded: LoadedStack, flag: str, given: str) -> str:
    """NAME, NAME[i] (one replica) or the plan's address (containers.NAME[i], jobs.NAME), as NAME or NAME[i]."""
    services = loaded.stack.services()
    try:
        address = Address.parse(given if "." in given else f"containers.{given}")
    except ValueError:
        address = Address(Kind.CONTAINER, given.partition("[")[0], 0)  # a replica that is not a number
    name, replica = address.name, address.replica
    if not address.kind.is_service or name not in services:
        raise HostformError(f"{flag} {given}: no container or job {name!r} in stack {loaded.name!r}")
    if replica is None:
        return name
    if not 1 <= replica <= services[name].replicas:
        raise HostformError(f"{flag} {given}: {name!r} has replicas 1 to {services[name].replicas}")
    return f"{name}[{replica}]"


def stage_explain(plan: Plan, loaded: LoadedStack, engine: Engine) -> Plan:
    """Attach unified diffs of changed config files (read from the live containers), and what each
    new container is given, its risky settings marked. A plan with no changes has nothing to explain."""
    if not plan.has_changes:
        return plan
    from hostform.plans.exposure import with_exposure
    from hostform.plans.filediff import with_file_diffs

    return with_exposure(with_file_diffs(plan, loaded, engine), loaded)


def apply_in_progress(
    engine: Engine, loaded: LoadedStack, observed: Observed | SwarmObserved | None = None
) -> str | None:
    """Who holds the stack's lock, when an apply (or destroy) is running: None when nobody does.
    The lock `observed` read with its first wave is taken as is (no read of its own)."""
    from hostform.runtime.lock import lock_of, read_lock

    if observed is not None and observed.lock_read:
        held = lock_of(loaded.name, observed.lock_labels, "config" if engine.swarm else "volume")
    else:
        held = read_lock(engine, loaded.name)
    return None if held is None or held.holder_alive() is False else held.describe()


def stage_busy(
    engine: Engine, loaded: LoadedStack, plan: Plan, observed: Observed | SwarmObserved | None = None
) -> Plan:
    """While an apply runs, its temporary containers are its own business, not the plan's.
    A plan with no changes has nothing of a running apply in it: the lock is not even read."""
    if not plan.has_changes:
        return plan
    from hostform.plans.busy import while_applying

    held = apply_in_progress(engine, loaded, observed)
    return plan if held is None else while_applying(plan, held, engine.swarm)


def _cannot_converge(plan: Plan) -> HostformError:
    return HostformError(plan.refusal())


def stage_confirm(auto_approve: bool, plan: Plan, verb: str = "perform these actions") -> bool:
    if auto_approve:
        return True
    if not sys.stdin.isatty():
        raise HostformError("not on a terminal: give --auto-approve to apply without asking")
    answer = input(f"\nDo you want to {verb}? Only 'yes' will be accepted: ")
    return answer.strip() == "yes"


def stage_apply(
    engine: Engine,
    loaded: LoadedStack,
    plan: Plan,
    parallelism: int = 10,
    json_lines: bool = False,
    builder: Engine | None = None,
    reporter: Callable[[Event], None] | None = None,
) -> ApplyReport:
    """`reporter`: where the events go (default: the terminal, as EventReporter shows them).
    Outside the main thread (the agent) SIGINT/SIGTERM are the caller's to handle."""
    from hostform.plans.apply import Applier
    from hostform.plans.work import EngineWork

    shown = None
    if reporter is None:
        shown = EventReporter(json_lines=json_lines, live=not json_lines and sys.stdout.isatty())
    notify: Callable[[Event], None] = reporter or shown or EventReporter()
    applier: Applier | SwarmApplier
    if loaded.stack.on_swarm:
        from hostform.plans.swarm_apply import SwarmApplier

        applier = SwarmApplier(engine, loaded, plan, parallelism, notify, builder)
    else:
        from hostform.plans.model import ReasonKind

        completed = frozenset(c.name for c in plan.changes if any(r.kind is ReasonKind.COMPLETED for r in c.reasons))
        work = EngineWork(engine, loaded, plan.key, parallelism, builder, notify, completed=completed)
        applier = Applier(loaded, plan, work, parallelism, notify)
    in_main = threading.current_thread() is threading.main_thread()
    with _interruptible(applier) if in_main else nullcontext(), shown if shown is not None else nullcontext():
        return applier.run()


@contextmanager
def _interruptible(applier: Applier | SwarmApplier) -> Iterator[None]:
    """SIGINT/SIGTERM: finish (or roll back) what is in flight, start nothing more; a second one
    stops waiting for what is in flight (a replacement is rolled back, a job left running)."""

    def stop(signum: int, frame: object) -> None:
        name = signal.Signals(signum).name
        if applier.abort.is_set():
            return
        if applier.stop.is_set():
            applier.abort.set()
            print(f"\n{name} again: no more waiting; replacements in flight are rolled back", file=sys.stderr)
            return
        applier.stop.set()
        print(f"\n{name}: finishing the actions in flight, starting no more (again to stop waiting)", file=sys.stderr)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def stage_report(report: ApplyReport, plan: Plan, json_lines: bool = False, verb: str = "Apply") -> int:
    if json_lines and not report.ok:  # the stream ends with a summary line whatever happened
        event = "interrupted" if report.interrupted else "incomplete"  # per-action events say "failed"
        counts = {"done": len(report.done), "failed": len(report.failed), "not_done": len(report.skipped)}
        print(json.dumps({"event": event, **counts}), flush=True)
    if report.interrupted:
        print(
            f"Apply interrupted: {len(report.done)} done, {len(report.failed)} failed, "
            f"{len(report.skipped)} not started; a re-run converges the rest.",
            file=sys.stderr,
        )
        return Exit.INTERRUPTED
    if report.ok:
        msg = f"{verb} complete: {counted(len(report.done), 'action')} on stack {plan.stack!r}."
        print(json.dumps({"event": "complete", "done": len(report.done)}) if json_lines else msg)
        return Exit.OK
    lines = [f"{c.address}: {why}" for c, why in report.failed]
    lines += [f"{c.address}: not done ({report.why_skipped.get(c.address, 'not started')})" for c in report.skipped]
    raise ApplyFailed(
        f"{verb.lower()} failed: {len(report.done)} done, {len(report.failed)} failed, "
        f"{len(report.skipped)} not done\n  " + "\n  ".join(lines)
    )


@dataclass
class EventReporter:
    """Progress: one line per event, one JSON object per line with --json, a live table on a terminal."""

    json_lines: bool = False
    live: bool = False

    def __post_init__(self) -> None:
        self._lock = threading.Lock()  # events come from the applier's workers: one line at a time
        self._table: LiveTable | None = None
        if self.live:
            from rich.console import Console

            from hostform.plans.progress import LiveTable

            self._table = LiveTable(Console(highlight=False, stderr=False))

    def __enter__(self) -> EventReporter:
        if self._table is not None:
            self._table.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._table is not None:
            self._table.stop()

    def __call__(self, event: Event) -> None:
        from hostform.declare.secrets import mask_secrets

        event = replace(event, message=mask_secrets(event.message)) if event.message else event
        with self._lock:
            if self._table is not None:
                self._table.update(event)
            else:
                self._emit(event)

    def _emit(self, event: Event) -> None:
        if self.json_lines:
            print(
                json.dumps(
                    {
                        "event": event.kind,
                        "address": event.address,
                        "action": event.action,
                        "seconds": round(event.seconds, 3),
                        "message": event.message,
                    }
                ),
                flush=True,
            )
            return
        if event.kind == "progress":  # a build step, a signal sent: one line each on a pipe
            print_lines([((f"{event.address}: {event.message}", "dim"),)])
            return
        if event.kind == "output":  # a line the job wrote, as Compose prefixes a service's
            print_lines([((f"{event.address} | {event.message}", "dim"),)])
            return
        style = {"failed": "red", "finished": "green", "skipped": "yellow"}.get(event.kind, "")
        took = f" ({event.seconds:.1f}s)" if event.kind in ("finished", "failed") else ""
        detail = f": {event.message}" if event.message else ""
        print_lines([((f"{event.address}: {event.action} {event.kind}{took}{detail}", style),)])


# ---------------------------------------------------------------- commands


def stage_pull(engine: Engine, loaded: LoadedStack) -> None:
    """Refresh every tag the stack uses from its registry (pull = "never" images are left alone)."""
    from concurrent.futures import ThreadPoolExecutor

    refs = sorted({s.image for s in loaded.stack.services().values() if s.pull != "never" and s.build is None})
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(engine.pull, refs))


def stage_policy(o: PlanCommand, loaded: LoadedStack) -> frozenset[str]:
    """The risk rules the operator refuses (--deny, --policy); none asked: the rules are not imported."""
    if not (o.deny or o.policy):
        return frozenset()
    from hostform.plans.exposure import denied_rules

    return denied_rules(list(o.deny), o.policy, loaded.base_dir)


def cmd_plan(o: PlanCommand) -> int:
    loaded = stage_load(o.stack)
    with located("planning"):
        return _plan_loaded(o, loaded)


def _plan_loaded(o: PlanCommand, loaded: LoadedStack) -> int:
    denied = stage_policy(o, loaded)
    engine = stage_connect(o.engine, loaded, check_manager=False)
    loaded, plan = planned(o, engine, loaded)
    fmt = "json" if o.json else o.format
    if fmt == "json":
        print(json.dumps(plan_json(plan), indent=2))
    elif fmt == "markdown":
        from hostform.plans.markdown import render_markdown

        print(render_markdown(plan), end="")
    else:
        print_plan(plan)
    if denied:
        from hostform.plans.exposure import check_policy

        check_policy(plan, denied)  # a plan that breaks the policy is shown, never saved
    if o.out:
        from hostform.plans.planfile import PlanRequest, save_plan

        request = PlanRequest.of(loaded, list(o.stack.var), list(o.stack.var_file), list(o.replace), list(o.target))
        save_plan(o.out, plan, loaded, request)
    if not plan.applicable:
        raise _cannot_converge(plan)
    if o.detailed_exitcode and plan.has_changes:
        return Exit.CHANGES
    return Exit.OK


def planned(o: PlanCommand, engine: Engine, loaded: LoadedStack) -> tuple[LoadedStack, Plan]:
    """observe -> plan -> host checks -> explain -> busy: the plan `hostform plan` shows (the agent's too)."""
    if loaded.stack.on_swarm:
        from hostform.plans import swarm_commands

        options = plan_options(loaded, o.replace, o.target)
        # the manager check and the lock (a config on the manager) in the observe wave
        live = swarm_commands.stage_observe(engine, loaded, for_drift=False, check_manager=True, with_lock=True)
        plan = swarm_commands.plan_of(loaded, live, options)  # images are always resolved in their registry
        return loaded, stage_busy(engine, loaded, plan, live)
    loaded, builder = stage_builder(o.build_host, o.engine.host, engine, loaded)
    if o.pull:
        stage_pull(engine, loaded)
    observed = stage_observe(engine, loaded, builder)
    plan = stage_spare(engine, stage_plan(loaded, observed, o.replace, o.target), observed)
    plan = stage_host_checks(engine, loaded, plan, o.strict, o.netns)
    return loaded, stage_busy(engine, loaded, stage_explain(plan, loaded, engine), observed)


def cmd_apply(o: ApplyCommand) -> int:
    from hostform.plans.planfile import is_plan_file, load_plan_file

    saved = None
    if is_plan_file(o.stack.stack):
        saved = load_plan_file(o.stack.stack)
        r = saved.request
        stack = StackOptions(r.stack_path, r.var, r.var_file, o.stack.on)
        o = changed(o, stack=stack, replace=r.replace, target=r.target)
    loaded = stage_load(o.stack)
    engine = stage_connect(o.engine, loaded)

    def confirm(plan: Plan) -> bool:
        if saved is not None or stage_confirm(o.auto_approve, plan):
            return True
        print("Apply cancelled.")
        return False

    return apply_loaded(o, engine, loaded, saved, None if o.json else print_plan, confirm).code


def apply_loaded(
    o: ApplyCommand,
    engine: Engine,
    loaded: LoadedStack,
    saved: SavedPlan | None,
    show: Callable[[Plan], None] | None,
    confirm: Callable[[Plan], bool],
    reporter: Callable[[Event], None] | None = None,
) -> Converged:
    """The builder, then the stack's lock, then `converge`: `hostform apply` once the stack is loaded."""
    loaded, builder = stage_builder(o.build_host, o.engine.host, engine, loaded)
    from hostform.runtime.lock import stack_lock

    with stack_lock(engine, loaded.name, "apply", o.lock_timeout):
        return converge(o, engine, loaded, saved, builder, show, confirm, reporter)


@dataclass(frozen=True)
class Converged:
    """What `converge` did: the plan (as shown), the exit code, the applier's report (None: nothing applied)."""

    plan: Plan
    code: int
    report: ApplyReport | None = None


def converge(
    o: ApplyCommand,
    engine: Engine,
    loaded: LoadedStack,
    saved: SavedPlan | None,
    builder: Engine,
    show: Callable[[Plan], None] | None,
    confirm: Callable[[Plan], bool],
    reporter: Callable[[Event], None] | None = None,
) -> Converged:
    """Under the stack's lock: observe -> plan -> check -> show -> confirm -> apply -> record -> report.
    `show` gets the plan explained (None: not shown, not explained); `reporter` the apply's events.
    The apply command and the agent both converge through here."""
    observed: Observed | None = None
    swarm_observed: SwarmObserved | None = None
    if loaded.stack.on_swarm:
        from hostform.plans import swarm_commands

        swarm_observed = swarm_commands.stage_observe(engine, loaded, for_drift=False)
        plan = swarm_commands.plan_of(loaded, swarm_observed, plan_options(loaded, o.replace, o.target))
    else:
        observed = stage_observe(engine, loaded, builder)
        plan = stage_plan(loaded, observed, o.replace, o.target, o.prune_volumes)
        plan = stage_host_checks(engine, loaded, stage_spare(engine, plan, observed), o.strict, o.netns)
    if saved is not None:
        from hostform.plans.planfile import check_fresh

        check_fresh(saved, plan, loaded)
    if show is not None:
        plan = plan if loaded.stack.on_swarm else stage_explain(plan, loaded, engine)
        show(plan)
    if not plan.applicable:
        raise _cannot_converge(plan)
    if not plan.has_changes:
        before_record = (
            swarm_observed is not None
            and swarm_observed.record is None
            and bool(swarm_observed.services or swarm_observed.networks)
        ) or (observed is not None and observed.record is None and bool(observed.containers or observed.networks))
        if before_record:  # objects applied before the record: start it
            return Converged(plan, reported(Exit.OK, stage_record(engine, loaded, plan, None, "apply")))
        return Converged(plan, Exit.OK)
    if not confirm(plan):
        return Converged(plan, Exit.ERROR)
    report = stage_apply(engine, loaded, plan, o.parallelism, o.json, builder, reporter)
    unrecorded = stage_record(engine, loaded, plan, report, "apply")
    return Converged(plan, reported(stage_report(report, plan, o.json), unrecorded), report)


def stage_record(
    engine: Engine, loaded: LoadedStack, plan: Plan, report: ApplyReport | None, operation: str, declared: bool = True
) -> HostformError | None:
    """Write the record of what the operation left (runtime.record); its failure is returned, to be
    raised once the operation's own report is out."""
    from hostform.plans.recording import Outcome, write_record

    outcome = Outcome()
    if report is not None:
        failed = tuple(c for c, _ in report.failed)
        why = (*report.failed, *((c, report.why_skipped.get(c.address, "not started")) for c in report.skipped))
        outcome = Outcome(tuple(report.done), failed, tuple(report.skipped), report.interrupted, why)
    try:
        write_record(engine, loaded, plan, outcome, operation, declared)
    except HostformError as exc:
        return HostformError(f"the record of this {operation} was not written: {exc}; the previous one stays")
    return None


def reported(code: int, unrecorded: HostformError | None) -> int:
    if unrecorded is not None:
        raise unrecorded
    return code


def cmd_destroy(o: DestroyCommand) -> int:
    try:
        loaded = stage_load(o.stack, read_secrets=False)
    except StackError as exc:  # destroy needs the name only: secrets need not be set to remove
        from hostform.declare.load import load_name_only

        loaded = load_name_only(o.stack.stack, o.stack.on)
        print(
            f"warning: the stack file does not load ({exc.lines()[0]}"
            + (f"; and {len(exc.lines()) - 1} more" if len(exc.lines()) > 1 else "")
            + f"): destroying by its name {loaded.name!r} alone, with 10s stop grace periods",
            file=sys.stderr,
        )
    engine = stage_connect(o.engine, loaded)
    from hostform.runtime.lock import stack_lock

    def show(plan: Plan) -> None:
        print_plan(
            plan,
            heading=f"hostform will destroy these objects of stack {plan.stack!r}:",
            empty=f"Nothing to destroy: stack {plan.stack!r} has no objects on this engine.",
        )

    def confirm(plan: Plan) -> bool:
        if stage_confirm(o.auto_approve, plan, "destroy these objects"):
            return True
        print("Destroy cancelled.")
        return False

    with stack_lock(engine, loaded.name, "destroy", o.lock_timeout):
        return destroy_locked(o, engine, loaded, show, confirm).code


def destroy_locked(
    o: DestroyCommand,
    engine: Engine,
    loaded: LoadedStack,
    show: Callable[[Plan], None],
    confirm: Callable[[Plan], bool],
    reporter: Callable[[Event], None] | None = None,
) -> Converged:
    """Under the stack's lock: plan the destruction -> show -> confirm -> apply -> record -> report
    (`hostform destroy`, and the agent's prune of a stack that left its repository)."""
    if loaded.stack.on_swarm:
        from hostform.plans import swarm_commands

        plan = swarm_commands.destroy_plan(engine, loaded.name)
    else:
        observed = observe(engine, loaded.name, inspect=False)
        plan = stage_spare(engine, destroy_plan(loaded.name, observed, o.volumes), observed)
    show(plan)
    if not plan.has_changes:
        return Converged(plan, Exit.OK)
    if not confirm(plan):
        return Converged(plan, Exit.ERROR)
    report = stage_apply(engine, loaded, plan, o.parallelism, reporter=reporter)
    unrecorded = stage_record(engine, loaded, plan, report, "destroy", declared=False)
    return Converged(plan, reported(stage_report(report, plan, verb="Destroy"), unrecorded), report)


def cmd_adopt(o: AdoptCommand) -> int:
    """load -> observe -> match -> show -> confirm -> rename -> record (plans.adopt); nothing is recreated."""
    from hostform.plans import adopt

    loaded = stage_load(o.stack)
    if loaded.stack.on_swarm:
        raise adopt.refuse_swarm(loaded)
    engine = stage_connect(o.engine, loaded)
    from hostform.runtime.lock import stack_lock

    with stack_lock(engine, loaded.name, "adopt", o.lock_timeout):
        adoption = adopt.find_adoption(engine, loaded, stage_observe(engine, loaded), o.project or loaded.name)
        adopt.print_adoption(adoption, loaded.name)
        if adoption.empty or o.dry_run:
            return Exit.OK
        if not stage_confirm(o.auto_approve, adoption.plan, "adopt these objects"):
            print("Adoption cancelled.")
            return Exit.ERROR
        from hostform.plans.recording import write_adoption

        adoption, problems = adopt.perform(engine, adoption)
        entries = adoption.entries()
        write_adoption(engine, loaded, adoption.plan, adoption.preview, entries, adoption.key)
        print(
            f"Adopted {counted(len(entries), 'object')} into stack {loaded.name!r}; "
            "`hostform plan` shows what apply would do."
        )
    if problems:
        raise HostformError("adoption incomplete:\n  " + "\n  ".join(problems))
    return Exit.OK


def cmd_drift(o: DriftCommand) -> int:
    """load -> observe -> detect -> report; with --fix: plan the drifted -> confirm -> apply -> re-check."""
    from contextlib import redirect_stdout

    from hostform.plans import drift
    from hostform.plans.drift_view import print_report

    loaded = stage_load(o.stack, secrets_optional=not o.fix)  # --fix applies: it needs every secret
    engine = stage_connect(o.engine, loaded)
    # the lock comes with the record's listing in observe's first wave (Swarm reads it on its own)
    observed = stage_observe(engine, loaded) if not loaded.stack.on_swarm else None
    held = apply_in_progress(engine, loaded, observed)
    if held is not None:  # its temporary containers (on Swarm its mid-update services) are not drift: exit 0
        from datetime import UTC, datetime

        message = f"stack {loaded.name!r}: apply in progress ({held}); drift not checked, run again when it finishes"
        if o.json:
            empty = drift.DriftReport(loaded.name, datetime.now(UTC), ())
            print(json.dumps({**drift.report_json(empty), "apply_in_progress": held}, indent=2))
        else:
            print(message)
        return Exit.OK
    check = drift_check(engine, loaded, o)
    report, plan = check(observed)
    if o.fix and not report.in_sync:
        with redirect_stdout(sys.stderr if o.json else sys.stdout):  # --json: stdout holds the report only
            print_report(report)

            def show(fix: Plan) -> None:
                if fix.has_changes:
                    print_plan(fix)
                for warning in () if fix.has_changes else fix.warnings:
                    print_lines([((f"! {warning}", ""),)])

            def confirm(fix: Plan) -> bool:
                if stage_confirm(o.auto_approve, fix, "fix this drift"):
                    return True
                print("Fix cancelled.")
                return False

            fixed = fix_drift(engine, loaded, o, check, show, confirm)
            if fixed.code != Exit.OK:
                return fixed.code
            if fixed.report is not None:
                report = fixed.report
                print("After the fix:")
    if o.json:
        print(json.dumps(drift.report_json(report), indent=2))
    else:
        print_report(report)
    return Exit.OK if report.in_sync else Exit.CHANGES


DriftCheck = Callable[..., "tuple[drift.DriftReport, Plan]"]


def drift_check(engine: Engine, loaded: LoadedStack, o: DriftCommand) -> DriftCheck:
    """The drift check of the stack's target: `check(observed=None) -> (report, plan)`."""
    if loaded.stack.on_swarm:
        from hostform.plans import swarm_drift

        def check_swarm(observed: Observed | None = None) -> tuple[drift.DriftReport, Plan]:
            return swarm_drift.check(engine, loaded, o.include_pending)

        return check_swarm
    from hostform.plans import drift

    def check(observed: Observed | None = None) -> tuple[drift.DriftReport, Plan]:
        return drift.check(engine, loaded, o.include_pending, o.netns, observed)

    return check


@dataclass(frozen=True)
class Fixed:
    """What `fix_drift` did: the fix planned, the drift report after it (None: nothing applied), the exit code."""

    fix: Plan
    report: drift.DriftReport | None
    code: int = Exit.OK


def fix_drift(
    engine: Engine,
    loaded: LoadedStack,
    o: DriftCommand,
    check: DriftCheck,
    show: Callable[[Plan], None],
    confirm: Callable[[Plan], bool],
    reporter: Callable[[Event], None] | None = None,
    select: Callable[[drift.DriftReport], drift.DriftReport] | None = None,
) -> Fixed:
    """Under the stack's lock: check again -> plan the fix (the drifted resources only) -> show ->
    confirm -> apply -> record -> check again. `drift --fix` and the agent's heal both fix through here.
    `select`: the findings to fix (default: every drifted one)."""
    from hostform.runtime.lock import stack_lock

    fix_plan = _fix_plan_of(loaded)
    with stack_lock(engine, loaded.name, "drift --fix", o.lock_timeout):
        report, plan = check()  # under the lock
        fix = fix_plan(select(report) if select is not None else report, plan)
        if not loaded.stack.on_swarm:  # what `plan` refuses, a fix refuses before touching anything
            fix = stage_host_checks(engine, loaded, fix, False, o.netns)
        show(fix)
        if not fix.applicable:
            raise _cannot_converge(fix)
        if not fix.has_changes or not confirm(fix):
            return Fixed(fix, None)
        fixed = stage_apply(engine, loaded, fix, o.parallelism, reporter=reporter)
        unrecorded = stage_record(engine, loaded, fix, fixed, "drift --fix")
        code = reported(stage_report(fixed, fix, verb="Fix"), unrecorded)
        if code != Exit.OK:
            return Fixed(fix, None, code)
        return Fixed(fix, check()[0])


def _fix_plan_of(loaded: LoadedStack) -> Callable[[drift.DriftReport, Plan], Plan]:
    if loaded.stack.on_swarm:
        from hostform.plans import swarm_drift

        return swarm_drift.fix_plan
    from hostform.plans import drift

    return drift.fix_plan


def cmd_history(o: HistoryCommand) -> int:
    """The record's generations (only the stack's name is read, or given: no file, no secret needed)."""
    from hostform.declare.load import load_name_or_file
    from hostform.plans import history
    from hostform.plans.recording import record_store

    loaded = load_name_or_file(o.stack, o.on)
    stack = loaded.name
    engine = stage_connect(o.engine, loaded)
    found = history.generations(record_store(engine, loaded))
    if not found and not loaded.stack.on_swarm:  # kept by an older hostform, until the next apply moves it
        from hostform.runtime.record import ContainerRecordStore

        found = history.generations(ContainerRecordStore(engine, stack))
    if o.show is not None:
        one = history.pick(found, stack, o.show)
        if o.json:
            print(json.dumps(history.generation_json(one), indent=2))
        else:
            history.print_generation(one)
    elif o.json:
        print(json.dumps(history.history_json(stack, found), indent=2))
    else:
        history.print_history(stack, found)
    return Exit.OK


def cmd_ls(o: ListCommand) -> int:
    """Every stack with a record on the engine: its newest generation (one listing of each kind)."""
    from hostform.plans import history

    engine = stage_connect(o.engine)
    found = history.stacks_on(engine)
    if o.json:
        print(json.dumps({"stacks": [history.generation_json(g, resources=False) | {"stack": g.stack} for g in found]}))
    else:
        history.print_stacks(found)
    return Exit.OK


def cmd_show(o: ShowCommand) -> int:
    from hostform.plans.planfile import load_plan_file

    with located("reading the saved plan"):
        plan = load_plan_file(o.planfile, access_of(o).max_file_bytes).plan
    if o.format == "json":
        print(json.dumps(plan_json(plan), indent=2))
    elif o.format == "markdown":
        from hostform.plans.markdown import render_markdown

        print(render_markdown(plan), end="")
    else:
        print_plan(plan)
    return Exit.OK


def cmd_prune_images(o: PruneImagesCommand) -> int:
    """The stack's built images past the newest --keep of each, unless a container (of any stack,
    running or not) uses one or the stack declares it now."""
    from hostform.runtime import images

    if o.keep < 0:
        raise HostformError(f"--keep {o.keep}: must be 0 or more")
    loaded = stage_load(o.stack, read_secrets=False)
    engine = stage_connect(o.engine)
    declared = {b.ref for b in loaded.builds.values()}
    doomed = images.prune_plan(images.built_images(engine, loaded.name), images.images_in_use(engine), declared, o.keep)
    for image in doomed:
        images.remove_image(engine, image)
        print(f"removed {', '.join(image.tags) or image.id[:19]}")
    print(f"{len(doomed)} built images of stack {loaded.name!r} removed.")
    return Exit.OK


def cmd_unlock(o: UnlockCommand) -> int:
    from hostform.declare.load import load_name_or_file

    loaded = load_name_or_file(o.stack.stack, o.stack.on)  # the name is all it needs: no file, no secret
    engine = stage_connect(o.engine, loaded)
    from hostform.runtime.lock import break_lock, read_lock

    held = read_lock(engine, loaded.name)
    if held is not None and held.holder_alive() and not o.force:
        raise HostformError(
            f"{held.describe()}, and that process is still running: let it finish, stop it "
            "(Ctrl-C releases the lock), or give --force"
        )
    held = break_lock(engine, loaded.name)
    if held is None:
        print(f"stack {loaded.name!r} is not locked")
    else:
        print(f"lock broken: {held.describe()}")
    return Exit.OK


COMMANDS: dict[str, tuple[type[Any], Callable[[Any], int]]] = {
    "plan": (PlanCommand, cmd_plan),
    "apply": (ApplyCommand, cmd_apply),
    "drift": (DriftCommand, cmd_drift),
    "destroy": (DestroyCommand, cmd_destroy),
    "adopt": (AdoptCommand, cmd_adopt),
    "prune-images": (PruneImagesCommand, cmd_prune_images),
    "history": (HistoryCommand, cmd_history),
    "ls": (ListCommand, cmd_ls),
    "show": (ShowCommand, cmd_show),
    "unlock": (UnlockCommand, cmd_unlock),
}


def run(name: str, args: argparse.Namespace) -> int:
    """The command `name` with its typed options, from the parsed command line."""
    from hostform.plans.options import from_namespace

    options_type, command = COMMANDS[name]
    return command(from_namespace(options_type, args))
