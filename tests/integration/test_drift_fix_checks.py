"""`drift --fix` against the real engine: the host checks `plan` runs (a port another container
holds), a limit set by hand that only a new container lifts, and evidence that says only what
differs, one row to a line when piped."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest

from tests.integration.conftest import BUSYBOX, StackFixture


@pytest.fixture
def port() -> int:
    return random.randint(18000, 29999)


@pytest.fixture
def squatter(stack: StackFixture, port: int) -> Iterator[str]:
    """A container of nobody's stack publishing the port the stack declares; removed afterwards."""
    api = stack.api
    name = f"{stack.name}-squatter"
    made = api.create_container(  # type: ignore[attr-defined]
        BUSYBOX,
        ["sleep", "600"],
        name=name,
        stop_signal="SIGKILL",
        ports=[80],
        host_config=api.create_host_config(port_bindings={80: ("127.0.0.1", port)}),  # type: ignore[attr-defined]
    )
    try:
        yield name
    finally:
        api.remove_container(made["Id"], force=True)  # type: ignore[attr-defined]


def web(port: int) -> str:
    return f"""
[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
ports = ["127.0.0.1:{port}:8080"]
"""


@pytest.mark.parametrize("by_hand", ["removed", "stopped"])
def test_fix_refuses_a_port_another_container_holds_before_changing_anything(
    stack: StackFixture, port: int, squatter: str, by_hand: str
) -> None:
    stack.write(web(port))
    stack.apply()
    engine_name = f"{stack.name}-web"
    if by_hand == "removed":
        stack.api.remove_container(engine_name, force=True)  # type: ignore[attr-defined]
    else:
        stack.api.stop(engine_name)  # type: ignore[attr-defined]
    stack.api.start(squatter)  # type: ignore[attr-defined]
    before = [(c["Id"], c["State"]) for c in stack.containers()]
    generations = len(stack.generations())

    report = stack.run("drift", str(stack.file), "--json")
    assert report.code == 2, report.both
    ports = [r for r in json.loads(report.out)["resources"] if r["drift"] == "port"]
    assert [r["address"] for r in ports] == ["containers.web"], report.out
    assert squatter in ports[0]["detail"] and str(port) in ports[0]["detail"], ports

    text = stack.run("drift", str(stack.file))
    assert "`hostform drift --fix` refuses while a port it would publish is taken" in text.out, text.out

    fixed = stack.run("drift", str(stack.file), "--fix", "--auto-approve")
    assert fixed.code == 1, fixed.both
    assert "cannot converge" in fixed.err and squatter in fixed.err, fixed.both
    assert "port is already allocated" not in fixed.both and "apply failed" not in fixed.both, fixed.both
    assert [(c["Id"], c["State"]) for c in stack.containers()] == before  # nothing was changed
    assert len(stack.generations()) == generations  # nor recorded


def test_a_memory_limit_set_by_hand_is_lifted_by_a_replacement_that_says_why(stack: StackFixture) -> None:
    """The engine's update API cannot lift a limit: Memory 0 reads as unchanged, -1 is refused
    (`Minimum memory limit allowed is 6MB`). The plan says so; --fix replaces and converges."""
    stack.write(f"""
[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
""")
    stack.apply()
    engine_name = f"{stack.name}-web"
    stack.api.update_container(engine_name, mem_limit="128m", memswap_limit="256m")  # type: ignore[attr-defined]

    plan = stack.plan()
    assert plan.code == 2 and "will be replaced" in plan.out, plan.both
    assert "~ memory: 128m -> (none): the engine cannot lift a limit in place" in plan.out, plan.out

    drift = stack.run("drift", str(stack.file))
    assert drift.code == 2, drift.both
    assert "  memory: 128m (the stack file sets none)" in drift.out, drift.out
    assert "expected (none)" not in drift.out
    row = next(line for line in drift.out.splitlines() if line.startswith("containers.web"))
    assert "cannot lift a memory limit in place: a new container does" in row, drift.out  # one line: not wrapped

    fixed = stack.run("drift", str(stack.file), "--fix", "--auto-approve")
    assert fixed.code == 0, fixed.both
    assert stack.inspect(engine_name)["HostConfig"]["Memory"] == 0
    assert stack.plan().code == 0


def test_a_failed_jobs_evidence_says_only_its_exit_code(stack: StackFixture) -> None:
    stack.write(f"""
[jobs.migrate]
image = "{BUSYBOX}"
command = ["sh", "-c", "test -e /tmp/ok"]
""")
    stack.apply(check=False)
    drift = stack.run("drift", str(stack.file))
    assert drift.code == 2 and "exit_code: 1 (expected 0)" in drift.out, drift.both
    assert '"exited" (expected "exited")' not in drift.out, drift.out
