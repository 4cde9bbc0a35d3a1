"""Records hostform did not write are never read (docs/record.md, "Trust"), and records an older
hostform kept in containers are read and moved into volumes. The forgeries are made with the
engine's own CLI, as someone copying labels by hand would; nothing outside the stack is planned
for deletion, no forged number sets the next one, and nothing recorded is lost in the move.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from hostform.runtime.engine import Engine
from hostform.runtime.lock import LOCK_IMAGE, ensure_lock_image
from hostform.runtime.record import read_book
from tests.integration.conftest import BUSYBOX, StackFixture
from tests.integration.test_drift import SLEEPER


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=True, timeout=120).stdout.strip()


@pytest.fixture
def outsider(stack: StackFixture) -> Iterator[str]:
    """A running container of no stack (a production database, say): its ID."""
    name = f"hfout{uuid.uuid4().hex[:8]}"
    ident = docker("run", "-d", "--name", name, BUSYBOX, "sleep", "600")
    yield ident
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)


def newest_json(stack: StackFixture) -> dict[str, Any]:
    generation = read_book(Engine(), stack.name).newest()
    assert generation is not None
    doc: dict[str, Any] = json.loads(generation.to_json())
    return doc


def forged_volume(name: str, stack: str, generation: str, data: dict[str, Any]) -> None:
    docker(
        "volume", "create",
        "--label", f"io.hostform.record={stack}",
        "--label", "io.hostform.kind=record",
        "--label", f"io.hostform.generation={generation}",
        "--label", f"io.hostform.record.data={json.dumps(data)}",
        "--label", f"io.hostform.record.mac={'0' * 64}",
        name,
    )  # fmt: skip


def adopting(doc: dict[str, Any], number: int, outsider: str) -> dict[str, Any]:
    """The stack's real generation, renumbered, claiming the outsider as an adopted container."""
    resources = [*doc["resources"], {"address": "containers.zzz", "kind": "container", "engine_name": "prod-db"}]
    adopted = {"containers.zzz": {"id": outsider, "spec": {"image": BUSYBOX}}}
    return {**doc, "generation": number, "resources": resources, "adopted": adopted}


def deletions(plan: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(c["address"], c["current_id"]) for c in plan["resource_changes"] if "delete" in c["actions"]]


def test_forged_generations_are_foreign_and_nothing_outside_is_deleted(stack: StackFixture, outsider: str) -> None:
    stack.write(f'[containers.app]{SLEEPER}env = {{ MODE = "a" }}\n')
    stack.apply()
    doc = newest_json(stack)
    forged = f"hostform.record.{stack.name}.000002"
    forged_volume(forged, stack.name, "000002", adopting(doc, 2, outsider))
    huge = f"hostform.record.{stack.name}.99999999999999999999"
    forged_volume(huge, stack.name, "99999999999999999999", {**doc, "generation": 99999999999999999999})
    key = f"hostform.key.{stack.name}"  # a key of the forger's own: the default network's wins
    docker("volume", "rm", key)
    forged_key = ["--label", f"io.hostform.record={stack.name}", "--label", f"io.hostform.key={'ab' * 16}"]
    docker("volume", "create", *forged_key, key)

    plan = stack.plan("--json")
    assert plan.code == 0, plan.both  # nothing to do: the forged adoption is not read
    found = json.loads(plan.out)
    assert deletions(found) == []
    assert outsider not in plan.out
    warned = " ".join(found["warnings"])
    for name in (forged, huge, key):
        assert f"volume '{name}'" in warned and "hostform did not write it" in warned, warned

    stack.write(f'[containers.app]{SLEEPER}env = {{ MODE = "b" }}\n')
    applied = stack.apply()
    assert outsider[:12] not in applied.both
    assert docker("inspect", "-f", "{{.State.Running}}", outsider) == "true"
    history = json.loads(stack.run("history", stack.name, "--json").out)
    assert [g["generation"] for g in history["generations"]] == [3, 1]  # 2 is taken by the forgery: skipped
    destroyed = stack.run("destroy", str(stack.file), "--auto-approve", "--volumes")
    assert destroyed.code == 0, destroyed.both
    assert docker("inspect", "-f", "{{.State.Running}}", outsider) == "true"
    left = {v["Name"] for v in stack.record_volumes()}
    assert {forged, huge, key} <= left  # foreign: never removed, not even by destroy --volumes
    assert f"hostform.record.{stack.name}.000004" in left  # the destroy is recorded


def test_a_forged_adoption_in_an_older_hostforms_record_takes_nothing_of_another_name(
    stack: StackFixture, outsider: str
) -> None:
    """A container record (the store before volumes) is read while a stack has no sealed record;
    it has no seal, so an adopted container it names is honoured only under `<stack>-<name>`."""
    stack.write(f"[containers.app]{SLEEPER}")
    stack.apply()
    doc = newest_json(stack)
    for v in stack.record_volumes():
        docker("volume", "rm", v["Name"])
    legacy_record(stack.name, adopting(doc, 1, outsider))
    found = json.loads(stack.plan("--json").out)
    assert deletions(found) == [] and outsider not in json.dumps(found)
    history = json.loads(stack.run("history", stack.name, "--json").out)
    assert [g["generation"] for g in history["generations"]] == [1]


def legacy_record(stack: str, doc: dict[str, Any]) -> None:
    """A generation as an older hostform wrote it: a created container of the empty lock image."""
    ensure_lock_image(Engine())
    number = int(doc["generation"])
    docker(
        "create", "--name", f"hostform.record.{stack}.{number:06d}", "--network", "none",
        "--label", f"io.hostform.stack={stack}",
        "--label", "io.hostform.name=record",
        "--label", "io.hostform.kind=record",
        "--label", f"io.hostform.record={stack}",
        "--label", f"io.hostform.generation={number}",
        "--env", f"HOSTFORM_RECORD={json.dumps(doc, sort_keys=True, separators=(',', ':'))}",
        LOCK_IMAGE, "hostform-record",
    )  # fmt: skip


JOB = f"""
[jobs.setup]
image = "{BUSYBOX}"
command = ["true"]
"""


def test_an_older_hostforms_record_is_read_then_moved_into_volumes(stack: StackFixture) -> None:
    stack.write(f'[containers.app]{SLEEPER}env = {{ MODE = "a" }}\n{JOB}')
    stack.apply()
    stack.write(f'[containers.app]{SLEEPER}env = {{ MODE = "b" }}\n{JOB}')
    stack.apply()
    book = read_book(Engine(), stack.name)
    old = [json.loads(g.to_json()) for g in (book.load(h) for h in book.heads()) if g is not None]
    assert [d["generation"] for d in old] == [2, 1]
    for v in stack.record_volumes():  # as an older hostform left it: containers, no volumes
        docker("volume", "rm", v["Name"])
    for d in old:
        legacy_record(stack.name, {k: v for k, v in d.items() if k != "completed"})

    history = json.loads(stack.run("history", stack.name, "--json").out)
    assert [g["generation"] for g in history["generations"]] == [2, 1]
    ls = json.loads(stack.run("ls", "--json").out)
    assert any(s["stack"] == stack.name and s["generation"] == 2 for s in ls["stacks"])
    assert stack.run("drift", str(stack.file)).code == 0

    stack.write(f'[containers.app]{SLEEPER}env = {{ MODE = "c" }}\n{JOB}')
    stack.apply()  # moves the record: every generation sealed in a volume, then the containers removed
    history = json.loads(stack.run("history", stack.name, "--json").out)
    assert [g["generation"] for g in history["generations"]] == [3, 2, 1]
    assert [g["at"] for g in history["generations"][1:]] == [d["at"] for d in old]
    assert docker("ps", "-aq", "--filter", f"label=io.hostform.record={stack.name}") == ""
    assert len(stack.generations()) == 3
    docker("rm", f"{stack.name}-setup")  # the finished job's container pruned: recorded as completed since the move
    assert stack.plan().code == 0


def adopt_body(name: str) -> str:
    return f'[containers.web]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "600"]\nadopt = "{name}"\n'


def test_an_adopted_container_is_one_stacks_and_no_other_stack_removes_it(
    stack: StackFixture, tmp_path_factory: Any
) -> None:
    """alpha adopts a hand-run container; beta's `adopt` naming it is refused, naming alpha. An
    object two records claim (an older hostform let beta adopt it too) is removed by neither."""
    hand = f"hfhand{uuid.uuid4().hex[:8]}"
    ident = docker("run", "-d", "--name", hand, BUSYBOX, "sleep", "600")
    beta = StackFixture(f"hft{uuid.uuid4().hex[:8]}", tmp_path_factory.mktemp("beta"), stack.api, dict(stack.env))
    try:
        stack.write(adopt_body(hand))
        stack.run("adopt", str(stack.file), "--auto-approve", check=True)
        alpha_web = f"{stack.name}-web"
        assert docker("inspect", "-f", "{{.Id}}", alpha_web) == ident

        beta.write(adopt_body(alpha_web))
        refused = beta.run("adopt", str(beta.file), "--auto-approve")
        assert refused.code == 1 and f"held by stack {stack.name!r}" in refused.err, refused.both
        assert "Traceback" not in refused.both
        assert docker("inspect", "-f", "{{.Name}}", ident) == f"/{alpha_web}"

        # beta's record as an older hostform wrote it, claiming the same container
        claim = {
            "format": 1, "stack": beta.name, "generation": 1, "operation": "adopt", "at": "2026-01-01T00:00:00Z",
            "by": "ops@old", "hostform": "0.0.1", "commit": None, "declaration": None, "summary": {},
            "resources": [{"address": "containers.web", "kind": "container", "engine_name": f"{beta.name}-web"}],
            "known": {}, "adopted": {"containers.web": {"id": ident, "spec": {"image": BUSYBOX}}},
        }  # fmt: skip
        legacy_record(beta.name, claim)
        destroyed = stack.run("destroy", str(stack.file), "--auto-approve")
        assert destroyed.code == 0, destroyed.both
        assert f"held by the record of stack {beta.name!r}" in destroyed.both, destroyed.both
        assert docker("inspect", "-f", "{{.State.Running}}", ident) == "true"
    finally:
        subprocess.run(["docker", "rm", "-f", ident], capture_output=True, check=False)
        from tests.integration.conftest import remove_stack_objects

        remove_stack_objects(stack.api, beta.name)
