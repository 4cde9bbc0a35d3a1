"""Changes on a real engine: exactly the affected containers change, and the plan says why.

- a field that needs a new container: `-/+`, the field's path, other containers keep their ID;
- a container removed from the file is deleted; one stopped by hand is started;
- in-place fields (memory, memory_reservation, restart, cpus, pids_limit, network
  membership and aliases) keep the container ID, and the next plan is empty.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.conftest import BUSYBOX, StackFixture

TWO = f"""
[networks.back]

[containers.a]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
env = {{ X = "@X@", KEEP = "same" }}

[containers.b]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
"""


def ids(stack: StackFixture) -> dict[str, str]:
    return {c["Names"][0].lstrip("/"): c["Id"] for c in stack.containers()}


def planned(stack: StackFixture) -> dict[str, dict]:  # type: ignore[type-arg]
    result = stack.run("plan", str(stack.file), "--json")
    assert result.code == 0, result.both
    return {c["address"]: c for c in json.loads(result.out)["resource_changes"]}


def assert_empty_plan(stack: StackFixture) -> None:
    result = stack.plan()
    assert result.code == 0, f"plan is not empty:\n{result.both}"


def test_env_change_replaces_only_that_container(stack: StackFixture) -> None:
    stack.write(TWO.replace("@X@", "1"))
    stack.apply()
    before = ids(stack)
    stack.write(TWO.replace("@X@", "2"))

    result = stack.plan()
    assert result.code == 2, result.both
    assert "-/+" in result.out and "env.X" in result.out, result.out
    assert '"1" -> "2"' in result.out, result.out
    assert "env.KEEP" not in result.out and f"{stack.name}-b " not in result.out, result.out
    changes = planned(stack)
    assert changes["containers.a"]["action"] == "replace"
    assert changes["containers.a"]["replace_paths"] == ["env.X"]
    assert changes["containers.b"]["action"] == "no-op"

    stack.apply()
    after = ids(stack)
    assert after[f"{stack.name}-a"] != before[f"{stack.name}-a"]
    assert after[f"{stack.name}-b"] == before[f"{stack.name}-b"]
    assert "X=2" in stack.inspect(f"{stack.name}-a")["Config"]["Env"]
    assert_empty_plan(stack)


@pytest.mark.parametrize(
    ("old", "new", "path"),
    [
        ('command = ["sleep", "600"]', 'command = ["sleep", "601"]', "command"),
        ('image = "hostform-test/busybox:1"', 'image = "hostform-test/busybox:2"', "image"),
        ('stop_signal = "SIGKILL"', 'stop_signal = "SIGKILL"\nlabels = { "org.x" = "1" }', "labels"),
        ('stop_signal = "SIGKILL"', 'stop_signal = "SIGKILL"\nports = ["127.0.0.1::80"]', "ports"),
        (
            'stop_signal = "SIGKILL"',
            'stop_signal = "SIGKILL"\nhealthcheck = { test = "true", interval = "1s" }',
            "healthcheck",
        ),
    ],
    ids=["command", "image", "labels", "ports", "healthcheck"],
)
def test_replacing_field_names_the_field(stack: StackFixture, old: str, new: str, path: str) -> None:
    body = TWO.replace("@X@", "1")
    stack.write(body)
    stack.apply()
    before = ids(stack)
    a_block, b_block = body.split("[containers.b]")
    stack.write(a_block.replace(old, new, 1) + "[containers.b]" + b_block)

    changes = planned(stack)
    assert changes["containers.a"]["action"] == "replace", changes["containers.a"]
    assert any(p == path or p.startswith(path + ".") for p in changes["containers.a"]["replace_paths"]), changes
    assert changes["containers.b"]["action"] == "no-op"
    stack.apply()
    after = ids(stack)
    assert after[f"{stack.name}-a"] != before[f"{stack.name}-a"]
    assert after[f"{stack.name}-b"] == before[f"{stack.name}-b"]
    assert_empty_plan(stack)


def test_removed_container_is_deleted(stack: StackFixture) -> None:
    body = TWO.replace("@X@", "1")
    stack.write(body)
    stack.apply()
    before = ids(stack)
    stack.write(body.split("[containers.b]")[0])

    result = stack.plan()
    assert result.code == 2
    assert f"- container {stack.name}-b" in " ".join(result.out.split()), result.out
    assert "no longer declared" in result.out
    stack.apply()
    assert ids(stack) == {f"{stack.name}-a": before[f"{stack.name}-a"]}
    assert_empty_plan(stack)


def test_container_stopped_by_hand_is_started(stack: StackFixture) -> None:
    stack.write(TWO.replace("@X@", "1"))
    stack.apply()
    before = ids(stack)
    stack.api.stop(f"{stack.name}-b", timeout=0)  # type: ignore[attr-defined]

    result = stack.plan()
    assert result.code == 2
    assert "will be started" in result.out and f"{stack.name}-b" in result.out, result.out
    assert planned(stack)["containers.a"]["action"] == "no-op"
    stack.apply()
    assert ids(stack) == before
    assert stack.inspect(f"{stack.name}-b")["State"]["Running"]
    assert_empty_plan(stack)


IN_PLACE = f"""
[networks.back]
[networks.front]

[containers.a]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
"""


def _host(stack: StackFixture) -> dict:  # type: ignore[type-arg]
    return stack.inspect(f"{stack.name}-a")["HostConfig"]


def _nets(stack: StackFixture) -> dict[str, list[str]]:
    nets = stack.inspect(f"{stack.name}-a")["NetworkSettings"]["Networks"]
    return {n: sorted(ep.get("Aliases") or []) for n, ep in nets.items()}


@pytest.mark.parametrize(
    ("before", "after", "field", "check"),
    [
        ('memory = "64m"', 'memory = "96m"', "memory", lambda s: _host(s)["Memory"] == 96 * 2**20),
        ("", 'memory = "48m"', "memory", lambda s: _host(s)["Memory"] == 48 * 2**20),
        (
            'memory_reservation = "16m"',
            'memory_reservation = "24m"',
            "memory_reservation",
            lambda s: _host(s)["MemoryReservation"] == 24 * 2**20,
        ),
        (
            'restart = "no"',
            'restart = "unless-stopped"',
            "restart",
            lambda s: _host(s)["RestartPolicy"]["Name"] == "unless-stopped",
        ),
        ('restart = "always"', "", "restart", lambda s: _host(s)["RestartPolicy"]["Name"] in ("", "no")),
        (
            'restart = "on-failure"',
            'restart = "on-failure:3"',
            "restart",
            lambda s: _host(s)["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3},
        ),
        ("cpus = 0.5", "cpus = 1.5", "cpus", lambda s: _host(s)["NanoCpus"] == 1_500_000_000),
        ("", "cpus = 0.25", "cpus", lambda s: _host(s)["NanoCpus"] == 250_000_000),
        ("pids_limit = 100", "pids_limit = 200", "pids_limit", lambda s: _host(s)["PidsLimit"] == 200),
        (
            'networks = ["default"]',
            'networks = ["default", "back"]',
            "networks",
            lambda s: any(n.endswith("_back") for n in _nets(s)),
        ),
        (
            'networks = ["default", "back"]',
            'networks = ["back"]',
            "networks",
            lambda s: [n.rsplit("_", 1)[1] for n in _nets(s)] == ["back"],
        ),
        (
            'networks = ["front"]',
            'networks = { front = { aliases = ["alpha"] } }',
            "networks",
            lambda s: "alpha" in next(iter(_nets(s).values())),
        ),
    ],
    ids=[
        "memory",
        "memory-added",
        "memory_reservation",
        "restart",
        "restart-removed",
        "restart-retries",
        "cpus",
        "cpus-added",
        "pids_limit",
        "network-joined",
        "network-left",
        "network-alias",
    ],
)
def test_in_place_update_keeps_the_container(
    stack: StackFixture, before: str, after: str, field: str, check: object
) -> None:
    stack.write(IN_PLACE + before + "\n")
    stack.apply()
    ident = ids(stack)[f"{stack.name}-a"]
    stack.write(IN_PLACE + after + "\n")

    result = stack.plan()
    assert result.code == 2, result.both
    assert "updated in place" in result.out and f"{field}:" in result.out, result.out
    assert "-/+" not in result.out
    stack.apply()
    assert ids(stack) == {f"{stack.name}-a": ident}
    assert stack.inspect(f"{stack.name}-a")["State"]["Running"]
    assert check(stack), stack.inspect(f"{stack.name}-a")  # type: ignore[operator]
    assert_empty_plan(stack)


@pytest.mark.parametrize(
    ("before", "field"),
    [
        ('memory = "64m"', "memory"),
        ("cpus = 0.5", "cpus"),
        ("pids_limit = 100", "pids_limit"),
        ('memory_reservation = "16m"', "memory_reservation"),
    ],
    ids=["memory", "cpus", "pids_limit", "memory_reservation"],
)
def test_removing_a_limit_converges(stack: StackFixture, before: str, field: str) -> None:
    """Docker's update API reads 0 as 'unchanged': removing a limit must still converge."""
    stack.write(IN_PLACE + before + "\n")
    stack.apply()
    stack.write(IN_PLACE)
    result = stack.plan()
    assert result.code == 2 and field in result.out, result.both
    stack.apply()
    assert_empty_plan(stack)


def test_job_left_created_is_run_again(stack: StackFixture) -> None:
    """An apply killed between creating a job and starting it leaves it 'created': it must still run."""
    stack.write(f"""
[jobs.migrate]
image = "{BUSYBOX}"
command = ["sh", "-c", "echo migrated"]
""")
    stack.apply()
    name = f"{stack.name}-migrate"
    info = stack.inspect(name)
    api = stack.api
    api.remove_container(name, force=True)  # type: ignore[attr-defined]
    api.create_container(  # type: ignore[attr-defined]
        info["Config"]["Image"],
        info["Config"]["Cmd"],
        name=name,
        labels=info["Config"]["Labels"],
        host_config=api.create_host_config(network_mode=info["HostConfig"]["NetworkMode"]),  # type: ignore[attr-defined]
    )
    result = stack.plan()
    assert result.code == 2 and "never run" in result.out, result.both
    stack.apply()
    state = stack.inspect(name)["State"]
    assert state["Status"] == "exited" and state["ExitCode"] == 0
    assert_empty_plan(stack)
