"""The record on Swarm: generations as configs on the manager, drift by what was applied, history,
hand-made copies, SIGKILL during the write (docs/record.md)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from hostform.runtime.engine import Engine
from hostform.runtime.generation import Generation
from hostform.runtime.lock import break_lock
from hostform.runtime.record import HISTORY_LIMIT
from hostform.runtime.swarm_record import ConfigRecordStore
from tests.integration.conftest import REPO, CLIResult
from tests.integration.test_record import git
from tests.swarm.conftest import BUSYBOX, SwarmStack

SLEEPER = f'\nimage = "{BUSYBOX}"\ncommand = ["sleep", "100000"]\nstop_grace_period = "1s"\n'


def body(mode: str = "a", replicas: int = 1, extra: str = "") -> str:
    return (
        f'[containers.app]{SLEEPER}env = {{ MODE = "{mode}" }}\n\n'
        f"[containers.lone]{SLEEPER}replicas = {replicas}\n{extra}"
    )


def drift(stack: SwarmStack, where: Path | None = None) -> tuple[int, dict[tuple[str, str], dict[str, Any]]]:
    result = stack.run("drift", str(where or stack.file), "--json")
    assert result.code in (0, 2), result.both
    doc = json.loads(result.out)
    return result.code, {(r["address"], r["drift"]): r for r in doc["resources"]}


def history(stack: SwarmStack, *extra: str) -> Any:
    result = stack.run("history", str(stack.dir), "--json", *extra)
    assert result.code == 0, result.both
    return json.loads(result.out)


def manager(stack: SwarmStack) -> Engine:
    engine = Engine(stack.bed.manager)
    engine.swarm = True
    return engine


def test_a_service_removed_by_hand_is_missing_after_an_edit_and_from_a_fresh_clone(
    swarm_stack: SwarmStack, tmp_path_factory: Any
) -> None:
    stack = swarm_stack
    stack.write(body())
    stack.apply()
    (record,) = stack.records()
    assert record["Spec"]["Name"] == f"hostform.record.{stack.name}.000001"
    stack.write(body("b"))  # edited after the apply, not applied: pending
    os.utime(stack.file)
    stack.bed.api().remove_service(f"{stack.name}_lone")
    code, entries = drift(stack)
    assert code == 2, entries
    assert set(entries) == {("containers.lone", "missing"), ("containers.app", "pending")}
    assert "generation 1" in entries[("containers.lone", "missing")]["detail"]
    # a pipeline's view: a fresh clone in another folder (every file newer than the apply)
    clone = tmp_path_factory.mktemp("clone")
    shutil.copy(stack.file, clone / "hostform.toml")
    code, entries = drift(stack, clone / "hostform.toml")
    assert code == 2 and ("containers.lone", "missing") in entries
    # declared, never applied: pending, not missing
    stack.write(body("a", extra=f"\n[containers.new]{SLEEPER}"))
    code, entries = drift(stack)
    assert code == 2 and set(entries) == {("containers.lone", "missing"), ("containers.new", "pending")}
    fixed = stack.run("drift", str(stack.file), "--fix", "--auto-approve")  # recreates `lone` only
    assert fixed.code == 0, fixed.both
    newest = history(stack)["generations"][0]
    assert (newest["generation"], newest["operation"], newest["done"]["add"]) == (2, "drift --fix", 1)
    shown = [r["address"] for r in history(stack, "--show", "2")["resources"]]
    assert shown == ["containers.app", "containers.lone", "networks.default"]  # `new` is still pending


def test_history_after_three_applies_and_a_destroy(swarm_stack: SwarmStack) -> None:
    stack = swarm_stack
    stack.write(body())
    git(stack.dir, "init", "-q")
    git(stack.dir, "add", "hostform.toml")
    git(stack.dir, "commit", "-q", "-m", "one")
    first = git(stack.dir, "rev-parse", "HEAD")
    stack.apply()
    stack.write(body("b"))
    stack.apply()
    stack.write(body("b", extra=f"\n[containers.third]{SLEEPER}"))
    stack.apply()
    destroyed = stack.run("destroy", str(stack.file), "--auto-approve")
    assert destroyed.code == 0, destroyed.both

    doc = history(stack)
    got = [(g["generation"], g["operation"], g["outcome"], g["done"]) for g in doc["generations"]]
    assert got == [
        (4, "destroy", "complete", {"add": 0, "replace": 0, "change": 0, "destroy": 4}),
        (3, "apply", "complete", {"add": 1, "replace": 0, "change": 0, "destroy": 0}),
        (2, "apply", "complete", {"add": 0, "replace": 0, "change": 1, "destroy": 0}),
        (1, "apply", "complete", {"add": 3, "replace": 0, "change": 0, "destroy": 0}),
    ]
    assert doc["generations"][3]["commit"] == first
    assert doc["generations"][2]["commit"] == first + "+dirty"
    third = history(stack, "--show", "3")
    assert [r["address"] for r in third["resources"]] == [
        "containers.app",
        "containers.lone",
        "containers.third",
        "networks.default",
    ]
    assert history(stack, "--show", "4")["resources"] == []
    assert len(stack.records()) == 4 and not stack.labelled("service")  # destroy keeps the record
    code, entries = drift(stack)  # after a destroy nothing declared is recorded: all of it is pending
    assert code == 0 and {d for _, d in entries} == {"pending"}, entries


def test_a_service_with_copied_labels_is_an_orphan_never_deleted(swarm_stack: SwarmStack) -> None:
    stack = swarm_stack
    stack.write(body())
    stack.apply()
    api = stack.bed.api()
    labels = {k: v for k, v in stack.service("app")["Spec"]["Labels"].items() if k.startswith("io.hostform.")}
    copy = f"{stack.name}_copy"
    api.create_service({"ContainerSpec": {"Image": BUSYBOX, "Args": ["sleep", "600"]}}, name=copy, labels=labels)

    code, entries = drift(stack)
    assert code == 2 and set(entries) == {(copy, "orphan")}, entries
    assert "no apply recorded it" in entries[(copy, "orphan")]["detail"]
    plan = stack.plan()
    assert plan.code == 0 and "no apply recorded it" in plan.both, plan.both  # a warning, no change
    fixed = stack.run("drift", str(stack.file), "--fix", "--auto-approve")
    assert fixed.code == 2 and "must be dealt with by hand" in " ".join(fixed.both.split()), fixed.both
    destroyed = stack.run("destroy", str(stack.file), "--auto-approve")
    assert destroyed.code == 0 and "no apply recorded it" in destroyed.both, destroyed.both
    assert [s["Spec"]["Name"] for s in stack.labelled("service")] == [copy]  # only the copy is left


def test_a_no_op_apply_starts_the_record_of_a_stack_applied_without_one(swarm_stack: SwarmStack) -> None:
    stack = swarm_stack
    stack.write(body())
    stack.apply()
    for record in stack.records():  # as a hostform before the record left it
        stack.bed.api().remove_config(record["ID"])
    again = stack.apply()
    assert "No changes" in again.out
    assert [r["Spec"]["Name"] for r in stack.records()] == [f"hostform.record.{stack.name}.000001"]
    assert [g["done"]["add"] for g in history(stack)["generations"]] == [0]


# ---------------------------------------------------------------- SIGKILL during the record write

DRIVER = textwrap.dedent(
    """
    import os, signal, sys
    from hostform.runtime.engine import Engine
    from hostform.plans import recording
    from hostform.plans.cli import main

    kill_at, state = int(sys.argv[1]), {"on": False, "n": 0}

    def tick():
        if state["on"]:
            state["n"] += 1
            if state["n"] == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)

    call = Engine.call
    def wrapped(self, *a, **kw):
        tick()
        out = call(self, *a, **kw)
        tick()
        return out
    Engine.call = wrapped

    write = recording.write_record
    def counted(*a, **kw):
        state["on"] = True
        out = write(*a, **kw)
        state["on"] = False
        print(f"record write: {state['n']} steps", file=sys.stderr)
        return out
    recording.write_record = counted
    sys.exit(main(sys.argv[2:]))
    """
)


def _apply_killed_at(stack: SwarmStack, step: int) -> CLIResult:
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(step), "apply", str(stack.file), "--auto-approve"],
        capture_output=True,
        text=True,
        env={**os.environ, "DOCKER_HOST": stack.bed.manager, **stack.env},
        cwd=REPO,
        timeout=300,
    )
    return CLIResult(proc.returncode, proc.stdout, proc.stderr)


def test_sigkill_at_every_step_of_the_record_write(swarm_stack: SwarmStack) -> None:
    """Killed before and after each manager call of the write (listing the record, reading the
    newest generation, listing what the apply left, creating the new config, removing the oldest):
    the previous or the new generation is always readable, and drift stays right."""
    stack = swarm_stack
    stack.write(body(replicas=1))
    stack.apply()
    engine = manager(stack)
    store = ConfigRecordStore(engine, stack.name)
    (first,) = [g for g in (store.load(h) for h in store.heads()) if g is not None]
    for number in range(2, HISTORY_LIMIT + 1):  # the record at its bound: every write also prunes
        store.write(Generation(**{**first.__dict__, "number": number}))
    step = 1
    while True:
        before = store.heads()[0].number
        stack.write(body(replicas=2 if step % 2 else 1))  # a scale: quick to converge
        result = _apply_killed_at(stack, step)
        if result.code == 0:  # past the last manager call: the write completed
            assert "record write:" in result.err and step > 4, result.both
            break
        assert result.code == -9, result.both
        assert break_lock(engine, stack.name) is not None  # the killed apply held the lock
        heads = store.heads()
        assert heads[0].number in (before, before + 1), (step, heads[0].number, before)
        assert all(store.load(h) is not None for h in heads), step
        code, entries = drift(stack)
        assert code == 0, (step, entries)
        stack.bed.api().remove_service(f"{stack.name}_lone")
        code, entries = drift(stack)
        assert (code, set(entries)) == (2, {("containers.lone", "missing")}), step
        step += 1
    doc = history(stack)
    assert len(doc["generations"]) == HISTORY_LIMIT
    numbers = [g["generation"] for g in doc["generations"]]
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == len(numbers)
