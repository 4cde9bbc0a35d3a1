"""Writing the record after an apply, a destroy or a `drift --fix` (runtime.record, docs/record.md).

What an operation left is read back from the engine (one listing of each kind,
no inspect), so a partial apply records what is really there: the objects the
stack declares and those an earlier generation listed. An object with the
stack's label that is neither (made by hand with copied labels) is not
recorded: it stays reported, never adopted.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import shutil
import socket
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hostform.declare import names
from hostform.declare.canonical import canonical_json
from hostform.declare.load import LoadedStack
from hostform.declare.secrets import mask_secrets
from hostform.plans.model import Action, Change, Plan, ReasonKind
from hostform.runtime.engine import Engine
from hostform.runtime.observe import observe
from hostform.runtime.record import (
    HISTORY_LIMIT,
    ContainerRecordStore,
    Generation,
    GenerationHead,
    RecordedResource,
    RecordStore,
    VolumeRecordStore,
    commit,
    newest,
    read_book,
)
from hostform.runtime.records import Observed

if TYPE_CHECKING:
    from hostform.runtime.swarm import SwarmObserved

OPERATIONS = ("apply", "destroy", "drift --fix", "adopt")


@dataclass(frozen=True)
class Outcome:
    """What an operation did with its plan: the addresses done, failed and not done."""

    done: tuple[Change, ...] = ()
    failed: tuple[Change, ...] = ()
    not_done: tuple[Change, ...] = ()
    interrupted: bool = False
    why: tuple[tuple[Change, str], ...] = ()  # a failed action's error, why one was not done

    @property
    def word(self) -> str:
        if self.interrupted:
            return "interrupted"
        if self.failed:
            return "failed"
        return "incomplete" if self.not_done else "complete"


def write_record(
    engine: Engine, loaded: LoadedStack, plan: Plan, outcome: Outcome, operation: str, declared: bool = True
) -> Generation:
    """Record what `operation` left; `declared` is False for a destroy (nothing is declared any more)."""
    if loaded.stack.on_swarm:
        from hostform.runtime.swarm import observe_swarm

        store = record_store(engine, loaded)
        heads = store.heads()
        previous = newest(store, heads)
        swarm_after = observe_swarm(engine, loaded.name, [], with_tasks=False, with_nodes=False)
        number = store.next_number(heads)
        generation = build_generation(loaded, plan, outcome, operation, swarm_after, previous, number, declared)
        commit(store, generation, heads)
        return generation
    after = observe(engine, loaded.name, inspect=False)
    volumes = VolumeRecordStore(engine, loaded.name, after.key or plan.key or os.urandom(16))
    volumes.ensure_key()
    previous, heads = _moved_in(engine, volumes, loaded.name, after)
    number = volumes.next_number(heads)
    generation = build_generation(loaded, plan, outcome, operation, after, previous, number, declared)
    commit(volumes, generation, heads)
    _forget_containers(engine, volumes, loaded.name)
    return generation


def _moved_in(
    engine: Engine, volumes: VolumeRecordStore, stack: str, after: Observed
) -> tuple[Generation | None, list[GenerationHead]]:
    """The newest generation and the heads of the volume store. A stack whose record an older
    hostform kept in containers, and that has no sealed generation yet, has them copied in
    first, sealed (adopted entries only for the objects observe took as adopted). Only then: a
    container of the record's name found beside sealed generations is not read (it is what a
    killed copy left, removed below, or a forgery)."""
    heads = volumes.heads()
    if heads:
        return newest(volumes, heads), heads
    legacy = ContainerRecordStore(engine, stack)
    old = [g for g in (legacy.load(h) for h in reversed(legacy.heads())) if g is not None]
    if not old:
        return None, heads
    still = {c.engine_name for c in after.containers if c.adopted}
    still |= {n.engine_name for n in after.networks if n.adopted} | {v.engine_name for v in after.volumes if v.adopted}
    for g in old:
        names_of = {r.address: r.engine_name for r in g.resources}
        adopted = {a: e for a, e in g.adopted.items() if names_of.get(a) in still}
        volumes.write(replace(g, adopted=adopted))
    heads = volumes.heads_again()
    return newest(volumes, heads), heads


def _forget_containers(engine: Engine, volumes: VolumeRecordStore, stack: str) -> None:
    """The containers of an older hostform's record whose generations are in sealed volumes now."""
    copied = {h.number for h in volumes.heads_again()}
    legacy = ContainerRecordStore(engine, stack)
    for head in legacy.heads():
        if head.number in copied:
            legacy.remove(head)


def record_store(engine: Engine, loaded: LoadedStack) -> RecordStore:
    """Sealed volumes on one engine; Swarm configs on the manager (runtime.swarm_record)."""
    if loaded.stack.on_swarm:
        from hostform.runtime.swarm_record import ConfigRecordStore

        return ConfigRecordStore(engine, loaded.name)
    book = read_book(engine, loaded.name)
    return VolumeRecordStore(engine, loaded.name, book.key or b"", book)


def write_adoption(
    engine: Engine,
    loaded: LoadedStack,
    plan: Plan,
    after: Observed,
    adopting: dict[str, dict[str, Any]],
    key: bytes,
) -> Generation:
    """Record what `hostform adopt` took over: `after` is the observation as it is once adopted
    (unlabelled objects included), `adopting` the record's entries for them (see Generation)."""
    volumes = VolumeRecordStore(engine, loaded.name, after.key or key)
    volumes.ensure_key()
    previous, heads = _moved_in(engine, volumes, loaded.name, after)
    number = volumes.next_number(heads)
    generation = build_generation(
        loaded, plan, Outcome(), "adopt", after, previous, number, adopting=adopting, key=key.hex()
    )
    commit(volumes, generation, heads)
    _forget_containers(engine, volumes, loaded.name)
    return generation


def write_to(store: RecordStore, generation: Generation) -> None:
    """For a store of another target (a Swarm manager): the same generation, the same order."""
    commit(store, generation, store.heads())


def build_generation(
    loaded: LoadedStack,
    plan: Plan,
    outcome: Outcome,
    operation: str,
    after: Observed | SwarmObserved,
    previous: Generation | None,
    number: int,
    declared: bool = True,
    adopting: dict[str, dict[str, Any]] | None = None,
    key: str | None = None,
) -> Generation:
    """`adopting`: the objects `hostform adopt` takes over now (address -> entry, see Generation);
    adopted objects stay in the record while they are there, unlabelled (a replaced one is hostform's
    own from then on). `key`: the stack's secret-hashing key, kept while its default network is
    an adopted one (it carries no key label). On a swarm (`after` a SwarmObserved) nothing is adopted."""
    still: set[str] = set()
    if isinstance(after, Observed):
        resources = _resources(loaded, after, previous, declared)
        still = {c.engine_name for c in after.containers if c.adopted}
        still |= {n.engine_name for n in after.networks if n.adopted}
        still |= {v.engine_name for v in after.volumes if v.adopted}
    else:
        resources = swarm_resources(loaded, plan.key, after, previous, declared)
    addresses = {r.address for r in resources if r.engine_name in still}
    adopted = {a: e for a, e in (previous.adopted if previous else {}).items() if a in addresses}
    adopted.update(adopting or {})
    kept_key = key or (previous.key if previous else None)
    known = {n: g for n, g in (previous.known if previous else {}).items() if g > number - HISTORY_LIMIT}
    known.update({r.engine_name: number for r in resources})
    completed = _completed(loaded, after, previous, declared) if isinstance(after, Observed) else {}
    return Generation(
        stack=loaded.name,
        number=number,
        operation=operation,
        at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        by=_who(),
        version=_version(),
        commit=git_commit(loaded.path.parent),
        declaration=_declaration(loaded, plan) if declared else None,
        summary=summary_of(plan, outcome),
        resources=tuple(sorted(resources, key=lambda r: r.address)),
        known=dict(sorted(known.items())),
        adopted=dict(sorted(adopted.items())),
        key=kept_key if isinstance(after, Observed) and _no_key_label(after) else None,
        completed=completed,
    )


def _completed(loaded: LoadedStack, after: Observed, previous: Generation | None, declared: bool) -> dict[str, str]:
    """Jobs that ran to completion (exited 0), with the spec digest of that run; a declared job
    whose container is gone keeps what the previous generation said (pruned, still completed)."""
    jobs = loaded.stack.jobs if declared else {}
    job = names.Kind.JOB
    replicas = [(n, i, j.replicas) for n, j in jobs.items() for i in range(1, j.replicas + 1)]
    addresses = {str(names.Address.of(job, n, i, count)) for n, i, count in replicas}
    out: dict[str, str] = {}
    present: set[str] = set()
    for c in after.containers:
        if c.kind != names.Kind.JOB or c.name not in jobs:
            continue
        address = str(names.Address.of(names.Kind.JOB, c.name, c.replica, jobs[c.name].replicas))
        present.add(address)
        if c.state == "exited" and c.exit_code == 0 and c.spec_hash:
            out[address] = c.spec_hash
    for address, digest in (previous.completed if previous else {}).items():
        if address in addresses and address not in present:
            out[address] = digest
    return dict(sorted(out.items()))


def _no_key_label(after: Observed) -> bool:
    """The stack's default network is not one hostform made (adopted, or not there): it carries no key."""
    return not any(n.name == names.DEFAULT_NETWORK and not n.adopted for n in after.networks)


def summary_of(plan: Plan, outcome: Outcome) -> dict[str, Any]:
    """The plan's counts and each action with what became of it."""
    state = {id(c): "done" for c in outcome.done}
    state.update({id(c): "failed" for c in outcome.failed})
    state.update({id(c): "not done" for c in outcome.not_done})
    why = {id(c): text for c, text in outcome.why}
    changes = [
        {
            "address": c.address,
            "action": c.action.value,
            "engine_name": c.engine_name,
            "result": state.get(id(c), ""),
            "reasons": reasons_of(c),
            **({_WHY_KEY[state[id(c)]]: _bounded(why[id(c)])} if id(c) in why and id(c) in state else {}),
        }
        for c in plan.actionable
    ]
    done = [c for c in plan.actionable if state.get(id(c)) == "done"]
    counts = {
        "add": sum(c.action is Action.CREATE for c in done),
        "replace": sum(c.action is Action.REPLACE for c in done),
        "change": sum(c.action in (Action.UPDATE, Action.RESTART, Action.START) for c in done),
        "destroy": sum(c.action is Action.DELETE for c in done),
    }
    return {"outcome": outcome.word, "plan": plan.counts(), "done": counts, "changes": changes}


_WHY_KEY = {"failed": "error", "not done": "why", "done": "note"}
REASONS_KEPT = 20  # of one action: a generation stays small (docs/record.md: Cost)
TEXT_KEPT = 500  # characters of one reason or error


def reasons_of(change: Change) -> list[str]:
    """Why the action was planned, as the plan said it (field, old -> new; never a secret's value)."""
    shown = [str(r) for r in change.reasons if r.kind is not ReasonKind.NEW]
    return [_bounded(text) for text in shown[:REASONS_KEPT]] + (
        [f"and {len(shown) - REASONS_KEPT} more"] if len(shown) > REASONS_KEPT else []
    )


def _bounded(text: str) -> str:
    """Masked (a secret an engine error quotes), and cut to TEXT_KEPT characters."""
    text = mask_secrets(text)
    return text if len(text) <= TEXT_KEPT else text[: TEXT_KEPT - 1] + "…"


def _resources(
    loaded: LoadedStack, after: Observed, previous: Generation | None, declared: bool
) -> list[RecordedResource]:
    stack = loaded.stack
    services = stack.services() if declared else {}
    wanted = {
        names.container_name(stack.name, n, i, count)
        for n, s in services.items()
        for i in range(1, s.replicas + 1)
        for count in {s.replicas, 1, 2}
        if count > 1 or i == 1
    }

    def kept(engine_name: str, is_declared: bool) -> bool:
        return is_declared or previous is None or previous.knows(engine_name)

    out = []
    for c in after.containers:
        if names.is_temporary(c.engine_name) or not (c.adopted or kept(c.engine_name, c.engine_name in wanted)):
            continue
        spec = services.get(c.name)
        many = (spec.replicas if spec else 1) > 1 or (spec is None and c.replica != 1)
        address = f"{c.kind}s.{c.name}" + (f"[{c.replica}]" if many else "")
        out.append(RecordedResource(address, c.kind, c.engine_name, c.spec_hash))
    networks = stack.all_networks() if declared else {}
    for n in after.networks:
        if kept(n.engine_name, n.name in networks):
            digest = _digest(networks.get(n.name), previous, n.engine_name)
            out.append(RecordedResource(f"networks.{n.name}", "network", n.engine_name, digest))
    volumes = stack.volumes if declared else {}
    for v in after.volumes:
        if kept(v.engine_name, v.name in volumes):
            out.append(
                RecordedResource(
                    f"volumes.{v.name}", "volume", v.engine_name, _digest(volumes.get(v.name), previous, v.engine_name)
                )
            )
    return out


def swarm_resources(
    loaded: LoadedStack, key: bytes, after: SwarmObserved, previous: Generation | None, declared: bool
) -> list[RecordedResource]:
    """What an operation left on a swarm: services (their spec hash), overlay networks, and the
    configs and secrets of the stack's files (content-addressed: the name is the digest)."""
    from hostform.plans.swarm_plan import wanted_files
    from hostform.runtime.swarm_spec import service_name

    stack = loaded.stack
    services = {service_name(stack.name, n) for n in stack.services()} if declared else set()
    files = wanted_files(loaded, key) if declared else {}
    networks = stack.all_networks() if declared else {}
    network_names = {names.network_name(stack.name, n) for n in networks}

    def kept(engine_name: str, is_declared: bool) -> bool:
        return is_declared or previous is None or previous.knows(engine_name)

    out = []
    for s in after.services:
        if kept(s.engine_name, s.engine_name in services):  # by name: a copy with its labels is not it
            out.append(RecordedResource(f"{s.kind}s.{s.name}", s.kind, s.engine_name, s.spec_hash))
    for n in after.networks:
        if kept(n.engine_name, n.engine_name in network_names):
            digest = _digest(networks.get(n.name), previous, n.engine_name)
            out.append(RecordedResource(f"networks.{n.name}", "network", n.engine_name, digest))
    for f in after.files:
        if kept(f.engine_name, f.engine_name in files):
            digest = f.engine_name.rpartition("-")[2]  # the content digest (a secret's: keyed)
            out.append(RecordedResource(f"files.{f.name}", f.kind, f.engine_name, digest))
    return out


def _digest(spec: Any, previous: Generation | None, engine_name: str) -> str | None:
    """A network's or volume's declared spec as a digest; an undeclared one keeps its recorded one."""
    if spec is not None:
        return hashlib.sha256(canonical_json(spec.model_dump(mode="json")).encode()).hexdigest()[:16]
    found = previous.find("", engine_name) if previous else None
    return found.digest if found else None


def _declaration(loaded: LoadedStack, plan: Plan) -> str:
    from dataclasses import replace

    from hostform.plans.planfile import desired_digest

    return desired_digest(loaded, replace(plan, key_known=True))  # applied: the plan's key is the stack's now


def _who() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (a container): the uid says who
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("hostform")
    except PackageNotFoundError:
        return "0+unknown"


def git_commit(folder: Path) -> str | None:
    """HEAD of the repository holding the stack folder, "+dirty" when the folder has local changes."""
    git = shutil.which("git")
    if git is None:
        return None

    def run(*args: str) -> str | None:
        try:
            done = subprocess.run(
                [git, "-C", str(folder), *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    head = run("rev-parse", "--verify", "-q", "HEAD")
    if not head:
        return None
    dirty = run("status", "--porcelain", "--", ".")
    return head + ("+dirty" if dirty else "")


__all__ = [
    "OPERATIONS",
    "Outcome",
    "build_generation",
    "record_store",
    "git_commit",
    "summary_of",
    "swarm_resources",
    "write_adoption",
    "write_record",
    "write_to",
]
