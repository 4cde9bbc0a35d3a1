"""The record on the real engine: drift by what was applied, history, hand-made copies, SIGKILL.

Each apply, destroy and `drift --fix` writes a generation (runtime.record); drift
tells missing from pending by it, never by the stack file's time or git history.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from hostform.runtime.engine import Engine
from hostform.runtime.lock import break_lock
from hostform.runtime.record import HISTORY_LIMIT, Generation, VolumeRecordStore, read_book
from tests.integration.conftest import BUSYBOX, REPO, CLIResult, StackFixture, run_cli
from tests.integration.test_drift import SLEEPER, drift, found

GIT_ENV = {
    "GIT_AUTHOR_NAME": "ops",
    "GIT_AUTHOR_EMAIL": "ops@example.test",
    "GIT_COMMITTER_NAME": "ops",
    "GIT_COMMITTER_EMAIL": "ops@example.test",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def history(stack: StackFixture, *extra: str, where: Path | None = None) -> Any:
    result = stack.run("history", str(where or stack.dir), "--json", *extra)
    assert result.code == 0, result.both
    return json.loads(result.out)


def body(mode: str = "a", extra: str = "") -> str:
    return f'[containers.app]{SLEEPER}env = {{ MODE = "{mode}" }}\n\n[containers.lone]{SLEEPER}{extra}'


def test_removed_by_hand_after_a_stack_edit_is_missing(stack: StackFixture) -> None:
    stack.write(body())
    stack.apply()
    stack.write(body("b"))  # edited after the apply (a newer mtime), not applied: pending
    os.utime(stack.file)
    stack.api.remove_container(f"{stack.name}-lone", force=True)  # type: ignore[attr-defined]
    code, doc = drift(stack)
    entries = found(doc)
    assert code == 2, doc
    assert set(entries) == {("containers.lone", "missing"), ("containers.app", "pending")}
    assert "generation 1" in entries[("containers.lone", "missing")]["detail"]
    stack.write(body("b", "\n[containers.new]" + SLEEPER))  # declared, never applied: pending, not missing
    code, doc = drift(stack)
    assert ("containers.new", "pending") in found(doc) and ("containers.lone", "missing") in found(doc)


def test_a_fresh_clone_in_another_folder_sees_the_removal(stack: StackFixture, tmp_path_factory: Any) -> None:
    stack.write(body())
    git(stack.dir, "init", "-q")
    git(stack.dir, "add", "hostform.toml")
    git(stack.dir, "commit", "-q", "-m", "stack")
    head = git(stack.dir, "rev-parse", "HEAD")
    stack.apply()
    clone = tmp_path_factory.mktemp("pipeline") / "checkout"
    git(stack.dir.parent, "clone", "-q", str(stack.dir), str(clone))  # every file newer than the apply
    stack.api.remove_container(f"{stack.name}-app", force=True)  # type: ignore[attr-defined]
    result = run_cli("drift", str(clone), "--json", cwd=clone)
    assert result.code == 2, result.both
    assert [(r["address"], r["drift"]) for r in json.loads(result.out)["resources"]] == [("containers.app", "missing")]
    (generation,) = history(stack, where=clone)["generations"]
    assert generation["commit"] == head and generation["operation"] == "apply"


def test_a_scale_down_leaves_no_false_missing(stack: StackFixture) -> None:
    stack.write(f"[containers.w]{SLEEPER}replicas = 3\n")
    stack.apply()
    stack.write(f"[containers.w]{SLEEPER}replicas = 1\n")
    stack.apply()
    assert sorted(c["Names"][0] for c in stack.containers()) == [f"/{stack.name}-w-1"]
    code, doc = drift(stack)
    assert (code, doc["resources"]) == (0, [])
    shown = history(stack, "--show", "2")
    assert [r["address"] for r in shown["resources"] if r["kind"] == "container"] == ["containers.w"]
    stack.api.remove_container(f"{stack.name}-w-1", force=True)  # type: ignore[attr-defined]
    code, doc = drift(stack)
    assert code == 2 and [(r["address"], r["drift"]) for r in doc["resources"]] == [("containers.w", "missing")]


def test_a_copy_with_copied_labels_is_reported_never_adopted_or_deleted(stack: StackFixture) -> None:
    stack.write(body())
    stack.apply()
    api = stack.api
    labels = stack.inspect(f"{stack.name}-app")["Config"]["Labels"]
    copy = f"{stack.name}-app-copy"
    api.create_container(BUSYBOX, ["sleep", "600"], name=copy, labels=labels)  # type: ignore[attr-defined]
    net = f"{stack.name}_extra"
    api.create_network(net, labels={"io.hostform.stack": stack.name, "io.hostform.name": "extra"})  # type: ignore[attr-defined]

    code, doc = drift(stack)
    entries = found(doc)
    assert code == 2
    assert set(entries) == {(copy, "orphan"), (net, "orphan")}
    assert "no apply recorded it" in entries[(copy, "orphan")]["detail"]
    plan = stack.plan()
    assert plan.code == 0 and "no apply recorded it" in plan.both  # a warning, no change
    fixed = stack.run("drift", str(stack.file), "--fix", "--auto-approve")
    verdict = " ".join(fixed.both.split())
    assert fixed.code == 2 and "made by hand with copied labels must be dealt with by hand" in verdict
    destroyed = stack.run("destroy", str(stack.file), "--auto-approve")
    assert destroyed.code == 0 and "no apply recorded it" in destroyed.both
    assert [c["Names"][0] for c in stack.containers()] == [f"/{copy}"]  # only the copy is left
    assert [n["Name"] for n in api.networks(filters={"label": f"io.hostform.stack={stack.name}"})] == [net]  # type: ignore[attr-defined]


def test_history_after_three_applies_and_a_destroy(stack: StackFixture) -> None:
    stack.write(body())
    git(stack.dir, "init", "-q")
    git(stack.dir, "add", "hostform.toml")
    git(stack.dir, "commit", "-q", "-m", "one")
    first = git(stack.dir, "rev-parse", "HEAD")
    stack.apply()
    stack.write(body("b"))
    stack.apply()
    stack.write(body("b", "\n[containers.third]" + SLEEPER))
    stack.apply()
    assert stack.run("destroy", str(stack.file), "--auto-approve").code == 0

    doc = history(stack)
    got = [(g["generation"], g["operation"], g["outcome"], g["done"]) for g in doc["generations"]]
    assert got == [
        (4, "destroy", "complete", {"add": 0, "replace": 0, "change": 0, "destroy": 4}),
        (3, "apply", "complete", {"add": 1, "replace": 0, "change": 0, "destroy": 0}),
        (2, "apply", "complete", {"add": 0, "replace": 1, "change": 0, "destroy": 0}),
        (1, "apply", "complete", {"add": 3, "replace": 0, "change": 0, "destroy": 0}),
    ]
    assert doc["generations"][3]["commit"] == first
    assert doc["generations"][2]["commit"] == first + "+dirty"  # edited, not committed
    assert all("@" in g["by"] and g["at"].endswith("Z") for g in doc["generations"])
    assert [c["address"] for c in doc["generations"][1]["changes"]] == ["containers.third"]
    assert history(stack, "--show", "4")["resources"] == []
    third = history(stack, "--show", "3")
    assert [r["address"] for r in third["resources"]] == [
        "containers.app",
        "containers.lone",
        "containers.third",
        "networks.default",
    ]
    text = stack.run("history", str(stack.dir))
    lines = text.out.splitlines()
    assert text.code == 0 and lines[0].split()[:3] == ["gen", "when", "who"]
    assert [line.split()[0] for line in lines[1:]] == ["4", "3", "2", "1"]
    missing = stack.run("history", str(stack.dir), "--show", "9")
    assert missing.code == 1 and "no generation 9" in missing.err and "Traceback" not in missing.err
    # after a destroy nothing declared is recorded: all of it is pending, not missing
    code, doc = drift(stack)
    assert code == 0 and {r["drift"] for r in doc["resources"]} == {"pending"}


def test_no_secret_value_in_the_record(stack: StackFixture) -> None:
    stack.env = {"TOKEN": "s3cr3t-value-xyz"}
    stack.write(f"[containers.app]{SLEEPER}env = {{ TOKEN = \"{{{{ secret('TOKEN') }}}}\" }}\n")
    stack.apply()
    raw = json.dumps(stack.record_volumes())
    assert len(stack.generations()) == 1
    assert "s3cr3t-value-xyz" not in raw
    assert "s3cr3t-value-xyz" not in stack.run("history", str(stack.dir), "--show", "1").both


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

    for name in ("list_containers", "inspect_container", "list_networks", "list_volumes",
                 "image_id", "create_container", "remove_container", "create_volume_if_absent",
                 "remove_volume"):
        def wrapped(self, *a, _orig=getattr(Engine, name), **kw):
            tick()
            out = _orig(self, *a, **kw)
            tick()
            return out
        setattr(Engine, name, wrapped)

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


def _apply_killed_at(stack: StackFixture, step: int) -> CLIResult:
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(step), "apply", str(stack.file), "--auto-approve"],
        capture_output=True,
        text=True,
        env={**os.environ, **stack.env},
        cwd=REPO,
        timeout=300,
    )
    return CLIResult(proc.returncode, proc.stdout, proc.stderr)


def _store(engine: Engine, stack: StackFixture) -> VolumeRecordStore:
    return VolumeRecordStore(engine, stack.name, read_book(engine, stack.name).key or b"")


def _seed_generations(stack: StackFixture, engine: Engine) -> None:
    """Fill the record to its bound, so every write also removes the oldest generation."""
    store = _store(engine, stack)
    (newest,) = [g for g in (store.load(h) for h in store.heads()) if g is not None]
    for number in range(2, HISTORY_LIMIT + 1):
        store.write(Generation(**{**newest.__dict__, "number": number}))


def test_sigkill_at_every_step_of_the_record_write(stack: StackFixture) -> None:
    """Killed before and after each engine call of the write (reading, creating the new generation,
    removing the oldest beyond the bound): the previous or the new generation is always readable."""
    stack.write(body("0"))
    stack.apply()
    engine = Engine()
    _seed_generations(stack, engine)
    step, version = 1, 0
    while True:
        version += 1
        before = _store(engine, stack).heads()[0].number
        stack.write(body(str(version)))
        result = _apply_killed_at(stack, step)
        if result.code == 0:  # this step is past the last engine call: the write completed
            assert "record write:" in result.err and step > 4
            break
        assert result.code == -9, result.both  # SIGKILL
        assert break_lock(engine, stack.name) is not None  # the killed apply held the lock
        store = _store(engine, stack)
        heads = store.heads()
        assert heads[0].number in (before, before + 1), (step, heads[0].number, before)
        assert all(store.load(h) is not None for h in heads), step  # every generation readable
        code, report = drift(stack)
        assert code == 0, (step, report)  # nothing missing: the applied containers are there
        stack.api.remove_container(f"{stack.name}-lone", force=True)  # type: ignore[attr-defined]
        code, report = drift(stack)
        assert (code, [(r["address"], r["drift"]) for r in report["resources"]]) == (
            2,
            [("containers.lone", "missing")],
        ), step
        step += 1
    doc = history(stack)
    assert len(doc["generations"]) == HISTORY_LIMIT  # what killed writes left over is pruned
    numbers = [g["generation"] for g in doc["generations"]]
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == len(numbers)
