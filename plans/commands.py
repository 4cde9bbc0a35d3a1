"""The commands that talk to the engine, each a short pipeline of named stages."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hostform.declare.errors import ApplyError, HostformError, StackError
from hostform.declare.load import LoadedStack, load
from hostform.plans.diff import PlanOptions, destroy_plan, make_plan
from hostform.plans.model import Plan
from hostform.plans.render import plan_json, print_lines, print_plan
from hostform.runtime.engine import Engine
from hostform.runtime.observe import observe, observe_stack
from hostform.runtime.records import Observed

if TYPE_CHECKING:  # the applier, the live view, the lock and saved plans: imported by the commands that apply
    from hostform.plans.apply import Applier, ApplyReport, Event
    from hostform.plans.planfile import SavedPlan
    from hostform.plans.progress import LiveTable
    from hostform.plans.swarm_apply import SwarmApplier

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


# ---------------------------------------------------------------- stages


def stage_load(args: argparse.Namespace, secrets_optional: bool = False) -> LoadedStack:
    """The stack, with every image built from a folder tagged by its content.
    secrets_optional: an unset secret stands for the one last applied (drift, which applies nothing)."""
    from hostform.plans.cli import access
    from hostform.runtime.build_context import resolve_builds

    target = getattr(args, "on", None)
    loaded = load(
        args.stack, args.var_file, args.var, access=access(args), target=target, secrets_optional=secrets_optional
    )
    return resolve_builds(loaded)


def stage_connect(args: argparse.Namespace, loaded: LoadedStack | None = None) -> Engine:
    from hostform.runtime.tls import tls_settings

    tls = tls_settings(
        bool(getattr(args, "tls", False)),
        bool(getattr(args, "tlsverify", False)),
        getattr(args, "tlscacert", None),
        getattr(args, "tlscert", None),
        getattr(args, "tlskey", None),
    )
    engine = Engine(getattr(args, "host", None), tls=tls)
    if not engine.remote:  # a remote engine's first read fails as clearly, without a round trip of its own
        engine.ping()
    if loaded is not None and loaded.stack.on_swarm:
        from hostform.plans import swarm_commands

        swarm_commands.connect(engine)
    return engine


def stage_observe(engine: Engine, loaded: LoadedStack, builder: Engine | None = None) -> Observed:
    return observe_stack(engine, loaded, builder)


def stage_builder(args: argparse.Namespace, engine: Engine, loaded: LoadedStack) -> tuple[LoadedStack, Engine]:
    """The engine that builds the stack's images: --build-host (HOSTFORM_BUILD_HOST), else the target
    engine, unless --host named the target, then the Docker way's engine (the build server's own).
    Images built on another engine than the target go through their registry and run by digest."""
    import os
    from dataclasses import replace

    from hostform.runtime.engine import engine_address

    if not loaded.builds:
        return loaded, engine
    given = getattr(args, "build_host", None) or os.environ.get("HOSTFORM_BUILD_HOST")
    address = engine_address(given) if given else engine_address(None) if getattr(args, "host", None) else None
    address = address or ("unix:///var/run/docker.sock" if given or getattr(args, "host", None) else engine.address)
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


def stage_plan(args: argparse.Namespace, loaded: LoadedStack, observed: Observed) -> Plan:
    options = PlanOptions(
        replace=tuple(_resource(loaded, "--replace", r) for r in getattr(args, "replace", ()) or ()),
        targets=tuple(_resource(loaded, "--target", t).split("[")[0] for t in getattr(args, "target", ()) or ()),
        prune_volumes=bool(getattr(args, "prune_volumes", False)),
    )
    return make_plan(loaded, observed, options)


def stage_host_checks(args: argparse.Namespace, engine: Engine, loaded: LoadedStack, plan: Plan) -> Plan:
    """What the host's network would refuse halfway through an apply (ports, addresses, subnets)."""
    from hostform.plans.hostcheck import with_host_checks

    strict = bool(getattr(args, "strict", False))
    return with_host_checks(engine, loaded, plan, strict, getattr(args, "netns", None))


def _resource(loaded: LoadedStack, flag: str, given: str) -> str:
    """NAME, NAME[i] (one replica) or the plan's address (containers.NAME[i], jobs.NAME), as NAME or NAME[i]."""
    text = given.removeprefix("containers.").removeprefix("jobs.")
    name, _, rest = text.partition("[")
    services = loaded.stack.services()
    if name not in services:
        raise HostformError(f"{flag} {given}: no container or job {name!r} in stack {loaded.name!r}")
    if not rest:
        return name
    replica = rest.removesuffix("]")
    if not replica.isdigit() or not 1 <= int(replica) <= services[name].replicas:
        raise HostformError(f"{flag} {given}: {name!r} has replicas 1 to {services[name].replicas}")
    return f"{name}[{int(replica)}]"


def stage_explain(plan: Plan, loaded: LoadedStack, engine: Engine) -> Plan:
    """Attach unified diffs of changed config files (read from the live containers), and what each
    new container is given, its risky settings marked."""
    from hostform.plans.exposure import with_exposure
    from hostform.plans.filediff import with_file_diffs

    return with_exposure(with_file_diffs(plan, loaded, engine), loaded)


def apply_in_progress(engine: Engine, loaded: LoadedStack) -> str | None:
    """Who holds the stack's lock, when an apply (or destroy) is running: None when nobody does."""
    from hostform.runtime.lock import read_lock

    held = read_lock(engine, loaded.name)
    return None if held is None or held.holder_alive() is False else held.describe()


def stage_busy(engine: Engine, loaded: LoadedStack, plan: Plan) -> Plan:
    """While an apply runs, its temporary containers are its own business, not the plan's.
    A plan with no changes has nothing of a running apply in it: the lock is not even read."""
    if not plan.has_changes:
        return plan
    from hostform.plans.busy import while_applying

    held = apply_in_progress(engine, loaded)
    return plan if held is None else while_applying(plan, held)


def _cannot_converge(plan: Plan) -> HostformError:
    return HostformError(f"stack {plan.stack!r} cannot converge: " + "; ".join(plan.conflicts))


def stage_confirm(args: argparse.Namespace, plan: Plan, verb: str = "perform these actions") -> bool:
    if args.auto_approve:
        return True
    if not sys.stdin.isatty():
        raise HostformError("not on a terminal: give --auto-approve to apply without asking")
    answer = input(f"\nDo you want to {verb}? Only 'yes' will be accepted: ")
    return answer.strip() == "yes"


def stage_apply(
    args: argparse.Namespace, engine: Engine, loaded: LoadedStack, plan: Plan, builder: Engine | None = None
) -> ApplyReport:
    json_lines = bool(getattr(args, "json", False))
    reporter = EventReporter(json_lines=json_lines, live=not json_lines and sys.stdout.isatty())
    from hostform.plans.apply import Applier
    from hostform.plans.work import EngineWork

    parallelism = getattr(args, "parallelism", 10)
    applier: Applier | SwarmApplier
    if loaded.stack.on_swarm:
        from hostform.plans.swarm_apply import SwarmApplier

        applier = SwarmApplier(engine, loaded, plan, parallelism, reporter)
    else:
        work = EngineWork(engine, loaded, plan.key, parallelism, builder)
        applier = Applier(loaded, plan, work, parallelism, reporter)
    with _interruptible(applier), reporter:
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
        return 130
    if report.ok:
        msg = f"{verb} complete: {len(report.done)} actions on stack {plan.stack!r}."
        print(json.dumps({"event": "complete", "done": len(report.done)}) if json_lines else msg)
        return EXIT_OK
    lines = [f"{c.address}: {why}" for c, why in report.failed]
    lines += [f"{c.address}: not done ({report.why_skipped.get(c.address, 'not started')})" for c in report.skipped]
    raise ApplyError(
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
        if event.kind == "progress":  # a build step: one line each on a pipe
            print_lines([((f"{event.address}: {event.message}", "dim"),)])
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


def cmd_plan(args: argparse.Namespace) -> int:
    from hostform.plans.exposure import check_policy, denied_rules

    loaded = stage_load(args)
    denied = denied_rules(args.deny, args.policy, loaded.base_dir)
    engine = stage_connect(args, loaded)
    if loaded.stack.on_swarm:
        from hostform.plans import swarm_commands

        if args.out:
            raise swarm_commands.refuse_saved_plans()
        plan = swarm_commands.stage_plan(engine, loaded)  # images are always resolved in their registry
    else:
        loaded, builder = stage_builder(args, engine, loaded)
        if args.pull:
            stage_pull(engine, loaded)
        plan = stage_plan(args, loaded, stage_observe(engine, loaded, builder))
        plan = stage_host_checks(args, engine, loaded, plan)
        plan = stage_busy(engine, loaded, stage_explain(plan, loaded, engine))
    fmt = "json" if args.json else args.format
    if fmt == "json":
        print(json.dumps(plan_json(plan), indent=2))
    elif fmt == "markdown":
        from hostform.plans.markdown import render_markdown

        print(render_markdown(plan), end="")
    else:
        print_plan(plan)
    check_policy(plan, denied)  # a plan that breaks the policy is shown, never saved
    if args.out:
        from hostform.plans.planfile import save_plan

        save_plan(args.out, plan, loaded, args.var, args.var_file, args.replace, args.target)
    if plan.conflicts:
        raise _cannot_converge(plan)
    if args.detailed_exitcode and plan.has_changes:
        return EXIT_CHANGES
    return EXIT_OK


def cmd_apply(args: argparse.Namespace) -> int:
    from hostform.plans.planfile import is_plan_file, load_plan_file

    saved = None
    if is_plan_file(args.stack):
        saved = load_plan_file(args.stack)
        args.stack = saved.stack_path
        args.var, args.var_file = saved.var, saved.var_file
        args.replace, args.target = list(saved.replace), list(saved.target)
    loaded = stage_load(args)
    engine = stage_connect(args, loaded)
    if loaded.stack.on_swarm and saved is not None:
        from hostform.plans import swarm_commands

        raise swarm_commands.refuse_saved_plans()
    loaded, builder = stage_builder(args, engine, loaded)
    from hostform.runtime.lock import stack_lock

    with stack_lock(engine, loaded.name, "apply", args.lock_timeout):
        return _apply_locked(args, engine, loaded, saved, builder)


def _apply_locked(
    args: argparse.Namespace, engine: Engine, loaded: LoadedStack, saved: SavedPlan | None, builder: Engine
) -> int:
    observed = None
    if loaded.stack.on_swarm:
        from hostform.plans import swarm_commands

        plan = swarm_commands.stage_plan(engine, loaded)
    else:
        observed = stage_observe(engine, loaded, builder)
        plan = stage_host_checks(args, engine, loaded, stage_plan(args, loaded, observed))
    if saved is not None:
        from hostform.plans.planfile import check_fresh

        check_fresh(saved, plan, loaded)
    if not args.json:
        print_plan(plan if loaded.stack.on_swarm else stage_explain(plan, loaded, engine))
    if plan.conflicts:
        raise _cannot_converge(plan)
    if not plan.has_changes:
        if observed is not None and observed.record is None and (observed.containers or observed.networks):
            return _reported(EXIT_OK, stage_record(engine, loaded, plan, None, "apply"))  # before the record: start it
        return EXIT_OK
    if saved is None and not stage_confirm(args, plan):
        print("Apply cancelled.")
        return EXIT_ERROR
    report = stage_apply(args, engine, loaded, plan, builder)
    unrecorded = stage_record(engine, loaded, plan, report, "apply")
    return _reported(stage_report(report, plan, args.json), unrecorded)


def stage_record(
    engine: Engine, loaded: LoadedStack, plan: Plan, report: ApplyReport | None, operation: str, declared: bool = True
) -> HostformError | None:
    """Write the record of what the operation left (runtime.record); its failure is returned, to be
    raised once the operation's own report is out."""
    from hostform.plans.recording import Outcome, write_record

    if loaded.stack.on_swarm:
        return None  # the Swarm store (configs on the manager) is designed, not wired yet: docs/record.md
    outcome = Outcome()
    if report is not None:
        failed = tuple(c for c, _ in report.failed)
        outcome = Outcome(tuple(report.done), failed, tuple(report.skipped), report.interrupted)
    try:
        write_record(engine, loaded, plan, outcome, operation, declared)
    except HostformError as exc:
        return HostformError(f"the record of this {operation} was not written: {exc}; the previous one stays")
    return None


def _reported(code: int, unrecorded: HostformError | None) -> int:
    if unrecorded is not None:
        raise unrecorded
    return code


def cmd_destroy(args: argparse.Namespace) -> int:
    try:
        loaded = stage_load(args)
    except StackError as exc:  # destroy needs the name only: secrets need not be set to remove
        from hostform.declare.load import load_name_only

        loaded = load_name_only(args.stack, getattr(args, "on", None))
        print(
            f"warning: the stack file does not load ({exc.lines()[0]}"
            + (f"; and {len(exc.lines()) - 1} more" if len(exc.lines()) > 1 else "")
            + f"): destroying by its name {loaded.name!r} alone, with 10s stop grace periods",
            file=sys.stderr,
        )
    engine = stage_connect(args, loaded)
    from hostform.runtime.lock import stack_lock

    with stack_lock(engine, loaded.name, "destroy", args.lock_timeout):
        return _destroy_locked(args, engine, loaded)


def _destroy_locked(args: argparse.Namespace, engine: Engine, loaded: LoadedStack) -> int:
    if loaded.stack.on_swarm:
        from hostform.plans import swarm_commands

        plan = swarm_commands.destroy_plan(engine, loaded.name)
    else:
        plan = destroy_plan(loaded.name, observe(engine, loaded.name, inspect=False), args.volumes)
    print_plan(
        plan,
        heading=f"hostform will destroy these objects of stack {plan.stack!r}:",
        empty=f"Nothing to destroy: stack {plan.stack!r} has no objects on this engine.",
    )
    if not plan.has_changes:
        return EXIT_OK
    if not stage_confirm(args, plan, "destroy these objects"):
        print("Destroy cancelled.")
        return EXIT_ERROR
    report = stage_apply(args, engine, loaded, plan)
    unrecorded = stage_record(engine, loaded, plan, report, "destroy", declared=False)
    return _reported(stage_report(report, plan, verb="Destroy"), unrecorded)


def cmd_drift(args: argparse.Namespace) -> int:
    """load -> observe -> detect -> report; with --fix: plan the drifted -> confirm -> apply -> re-check."""
    from contextlib import redirect_stdout

    from hostform.plans import drift
    from hostform.plans.drift_view import print_report

    loaded = stage_load(args, secrets_optional=not args.fix)  # --fix applies: it needs every secret
    if loaded.stack.on_swarm:
        loaded = stage_load(args)  # Swarm compares the services' own specs: they need the values
    engine = stage_connect(args, loaded)
    if loaded.stack.on_swarm:
        from hostform.plans import swarm_drift

        return swarm_drift.cmd_drift(args, engine, loaded)
    held = apply_in_progress(engine, loaded)
    if held is not None:  # its temporary containers are not drift: not checked now, exit 0
        from datetime import UTC, datetime

        message = f"stack {loaded.name!r}: apply in progress ({held}); drift not checked, run again when it finishes"
        if args.json:
            empty = drift.DriftReport(loaded.name, datetime.now(UTC), ())
            print(json.dumps({**drift.report_json(empty), "apply_in_progress": held}, indent=2))
        else:
            print(message)
        return EXIT_OK
    report, plan = drift.check(engine, loaded, args.include_pending, args.netns)
    if args.fix and not report.in_sync:
        quiet = argparse.Namespace(**{**vars(args), "json": False})
        with redirect_stdout(sys.stderr if args.json else sys.stdout):  # --json: stdout holds the report only
            print_report(report)
            from hostform.runtime.lock import stack_lock

            with stack_lock(engine, loaded.name, "drift --fix"):
                report, plan = drift.check(engine, loaded, args.include_pending, args.netns)  # under the lock
                fix = drift.fix_plan(report, plan)
                if fix.has_changes:
                    print_plan(fix)
                for warning in () if fix.has_changes else fix.warnings:
                    print(f"! {warning}")
                if fix.has_changes and stage_confirm(args, fix, "fix this drift"):
                    fixed = stage_apply(quiet, engine, loaded, fix)
                    unrecorded = stage_record(engine, loaded, fix, fixed, "drift --fix")
                    code = _reported(stage_report(fixed, fix, verb="Fix"), unrecorded)
                    if code != EXIT_OK:
                        return code
                    report, _ = drift.check(engine, loaded, args.include_pending, args.netns)
                    print("After the fix:")
                elif fix.has_changes:
                    print("Fix cancelled.")
    if args.json:
        print(json.dumps(drift.report_json(report), indent=2))
    else:
        print_report(report)
    return EXIT_OK if report.in_sync else EXIT_CHANGES


def cmd_history(args: argparse.Namespace) -> int:
    """The record's generations (only the stack's name is read: no secret needs to be set)."""
    from hostform.declare.load import load_name_only
    from hostform.plans import history
    from hostform.runtime.record import ContainerRecordStore

    stack = load_name_only(args.stack).name
    found = history.generations(ContainerRecordStore(stage_connect(args), stack))
    if args.show is not None:
        one = history.pick(found, stack, args.show)
        if args.json:
            print(json.dumps(history.generation_json(one), indent=2))
        else:
            history.print_generation(one)
    elif args.json:
        print(json.dumps(history.history_json(stack, found), indent=2))
    else:
        history.print_history(stack, found)
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from hostform.plans.cli import access
    from hostform.plans.planfile import load_plan_file, plan_from_doc

    saved = load_plan_file(args.planfile, access(args).max_file_bytes)
    try:
        plan = plan_from_doc(saved.body)
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise HostformError(f"{args.planfile}: not a readable hostform plan ({type(exc).__name__})") from None
    if args.format == "json":
        doc = {k: v for k, v in saved.body.items() if k not in ("kind", "live", "stack_path", "var", "var_file")}
        print(json.dumps(doc, indent=2))
    elif args.format == "markdown":
        from hostform.plans.markdown import render_markdown

        print(render_markdown(plan), end="")
    else:
        print_plan(plan)
    return EXIT_OK


def cmd_prune_images(args: argparse.Namespace) -> int:
    """The stack's built images past the newest --keep of each, unless a container (of any stack,
    running or not) uses one or the stack declares it now."""
    from hostform.runtime import images

    if args.keep < 0:
        raise HostformError(f"--keep {args.keep}: must be 0 or more")
    loaded = stage_load(args)
    engine = stage_connect(args)
    declared = {b.ref for b in loaded.builds.values()}
    doomed = images.prune_plan(
        images.built_images(engine, loaded.name), images.images_in_use(engine), declared, args.keep
    )
    for image in doomed:
        images.remove_image(engine, image)
        print(f"removed {', '.join(image.tags) or image.id[:19]}")
    print(f"{len(doomed)} built images of stack {loaded.name!r} removed.")
    return EXIT_OK


def cmd_unlock(args: argparse.Namespace) -> int:
    from hostform.declare.load import load_name_only

    loaded = load_name_only(args.stack, getattr(args, "on", None))  # the name is all it needs: no secret set
    engine = stage_connect(args, loaded)
    from hostform.runtime.lock import break_lock, read_lock

    held = read_lock(engine, loaded.name)
    if held is not None and held.holder_alive() and not args.force:
        raise HostformError(
            f"{held.describe()}, and that process is still running: let it finish, stop it "
            "(Ctrl-C releases the lock), or give --force"
        )
    held = break_lock(engine, loaded.name)
    if held is None:
        print(f"stack {loaded.name!r} is not locked")
    else:
        print(f"lock broken: {held.describe()}")
    return EXIT_OK
