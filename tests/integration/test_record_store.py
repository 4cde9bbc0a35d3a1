"""The record, the lock and job completions kept in volumes (docs/record.md), on a real engine.

The prunes and the engine restart run on a dockerd of the session's own (the `private_engine`
fixture), never on the shared engine. After each one: `history` still lists the apply, `plan`
has nothing to do (the finished job is not run again), `drift` finds nothing, and the data
volume still holds what the job wrote.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import BUSYBOX, CLIResult, StackFixture, run_cli
from tests.integration.private_engine import PrivateEngine

BODY = f"""
[volumes.data]

[containers.db]
image = "{BUSYBOX}"
command = ["sleep", "86400"]
stop_signal = "SIGKILL"
restart = "unless-stopped"
volumes = ["data:/data"]

[jobs.migrate]
image = "{BUSYBOX}"
command = ["sh", "-c", "echo migrated >> /data/runs"]
volumes = ["data:/data"]
depends_on = {{ db = "started" }}

[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "86400"]
stop_signal = "SIGKILL"
restart = "unless-stopped"
depends_on = {{ migrate = "completed" }}
"""


class Private:
    """A stack on the private engine."""

    def __init__(self, engine: PrivateEngine, folder: Path) -> None:
        self.engine = engine
        self.name = f"hfp{uuid.uuid4().hex[:8]}"
        self.dir = folder
        self.file = folder / "hostform.toml"

    def write(self, body: str) -> None:
        self.file.write_text(f'[stack]\nname = "{self.name}"\n{body}', encoding="utf-8")

    def run(self, *args: str) -> CLIResult:
        return run_cli(*args, env=self.engine.env(), cwd=self.dir)

    def json(self, *args: str) -> Any:
        result = self.run(*args)
        assert result.code in (0, 2), result.both
        return json.loads(result.out)

    def runs(self) -> list[str]:
        """What the job wrote in the data volume, read through the running db container."""
        found = self.engine.docker("exec", f"{self.name}-db", "cat", "/data/runs")
        return found.stdout.split()


@pytest.fixture
def private(private_engine: PrivateEngine, tmp_path: Path) -> Iterator[Private]:
    private_engine.clear()
    yield Private(private_engine, tmp_path)
    private_engine.clear()


def applied(p: Private) -> None:
    p.write(BODY)
    result = p.run("apply", str(p.file), "--auto-approve")
    assert result.code == 0, result.both
    assert p.runs() == ["migrated"]


def check_nothing_lost(p: Private) -> None:
    history = p.json("history", p.name, "--json")
    assert [g["generation"] for g in history["generations"]] == [1], history
    plan = p.run("plan", str(p.file), "--detailed-exitcode", "--json")
    assert plan.code == 0, plan.both
    changes = {c["address"]: c for c in json.loads(plan.out)["resource_changes"]}
    migrate = changes["jobs.migrate"]
    if migrate["current_id"] is None:  # its container was pruned: the record says it completed
        assert migrate["action"] == "no-op" and migrate["action_reason"] == ["completed"], migrate
        assert "not run again" in migrate["reasons"][0]["text"]
    drift = p.run("drift", str(p.file), "--json")
    assert drift.code == 0, drift.both
    assert p.runs() == ["migrated"]  # the data volume is untouched, the job ran once
    apply = p.run("apply", str(p.file), "--auto-approve")
    assert apply.code == 0 and p.runs() == ["migrated"], apply.both


def bookkeeping_is_not_the_stacks(p: Private) -> None:
    """Neither `docker ps -a` nor a listing of the stack's volumes by its label shows the record."""
    names = p.engine.docker("ps", "-a", "--format", "{{.Names}}").stdout.split()
    assert not [n for n in names if n.startswith("hostform.")], names
    labelled = p.engine.docker("volume", "ls", "-q", "--filter", f"label=io.hostform.stack={p.name}").stdout.split()
    assert labelled == [f"{p.name}_data"]
    record = p.engine.docker("volume", "ls", "-q", "--filter", f"label=io.hostform.record={p.name}").stdout.split()
    assert sorted(record) == [f"hostform.key.{p.name}", f"hostform.record.{p.name}.000001"]


@pytest.mark.parametrize(
    "prune",
    [
        ("container", "prune", "-f"),
        ("system", "prune", "-f"),
        ("system", "prune", "-a", "-f"),
        ("image", "prune", "-a", "-f"),
    ],
    ids=lambda args: " ".join(args),
)
def test_a_prune_loses_nothing_recorded(private: Private, prune: tuple[str, ...]) -> None:
    applied(private)
    bookkeeping_is_not_the_stacks(private)
    private.engine.docker(*prune)
    bookkeeping_is_not_the_stacks(private)
    check_nothing_lost(private)


def test_an_engine_restart_loses_nothing_recorded(private: Private) -> None:
    applied(private)
    private.engine.restart()
    check_nothing_lost(private)


def test_system_prune_with_volumes_removes_the_record_as_documented(private: Private) -> None:
    """`docker system prune --volumes` removes every unused volume on Docker 20.10: the record's
    too (never mounted). The data volume of a running container stays; the job, its container
    and its record gone, is planned to run again (docs/record.md says so)."""
    applied(private)
    private.engine.docker("system", "prune", "--volumes", "-f")
    history = private.run("history", private.name)
    assert history.code == 0 and "No record" in history.out, history.both
    plan = private.json("plan", str(private.file), "--json")
    changes = {c["address"]: c["action"] for c in plan["resource_changes"]}
    assert changes["jobs.migrate"] == "create" and changes["containers.db"] == "no-op"
    assert private.runs() == ["migrated"]


def test_a_lock_survives_a_prune_and_a_killed_holder_is_unlocked(private: Private) -> None:
    applied(private)
    lock = ["volume", "create", "--label", f"io.hostform.lock={private.name}", "--label"]
    lock += [f"io.hostform.record={private.name}", "--label", "io.hostform.lock.host=elsewhere"]
    private.engine.docker(*lock, "--label", "io.hostform.lock.pid=1", f"hostform.lock.{private.name}")
    private.engine.docker("system", "prune", "-f")
    held = private.run("apply", str(private.file), "--auto-approve")
    assert held.code == 1 and "is locked by apply" in held.err and "elsewhere" in held.err, held.both
    broken = private.run("unlock", private.name)
    assert broken.code == 0 and "lock broken" in broken.out, broken.both
    assert private.run("apply", str(private.file), "--auto-approve").code == 0


def test_the_lock_is_taken_by_exactly_one_of_many_at_once(stack: StackFixture) -> None:
    """Eight clients, each with its own connection (as eight machines pointing at one engine),
    take the same stack's lock at once, twenty times: exactly one holds it each time."""
    import threading

    from hostform.declare.errors import LockError
    from hostform.runtime.engine import Engine
    from hostform.runtime.lock import acquire, break_lock

    engines = [Engine() for _ in range(8)]
    for _ in range(20):
        won: list[int] = []
        start = threading.Barrier(len(engines))

        def take(i: int, start: threading.Barrier, won: list[int]) -> None:
            start.wait()
            try:
                acquire(engines[i], stack.name, "apply")
                won.append(i)
            except LockError:
                pass

        threads = [threading.Thread(target=take, args=(i, start, won)) for i in range(len(engines))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(won) == 1, won
        assert break_lock(engines[0], stack.name) is not None
    assert [v["Name"] for v in stack.record_volumes()] == []
