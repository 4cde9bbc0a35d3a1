"""Objects hostform does not own are never changed or removed, even under a declared name."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.integration.conftest import BUSYBOX, StackFixture

BODY = f"""
[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"

[containers.other]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
"""


@pytest.fixture
def unmanaged(stack: StackFixture) -> Iterator[list[str]]:
    """Names of containers made here with the plain docker SDK (no hostform label)."""
    made: list[str] = []
    yield made
    for name in made:
        stack.api.remove_container(name, force=True)  # type: ignore[attr-defined]


def squat(stack: StackFixture, made: list[str], name: str, labels: dict[str, str] | None = None) -> dict:  # type: ignore[type-arg]
    api = stack.api
    ident = api.create_container(  # type: ignore[attr-defined]
        BUSYBOX,
        ["sleep", "600"],
        name=name,
        labels=labels or {},
        host_config=api.create_host_config(network_mode="none"),  # type: ignore[attr-defined]
        stop_signal="SIGKILL",
    )["Id"]
    made.append(name)
    api.start(ident)  # type: ignore[attr-defined]
    return api.inspect_container(ident)  # type: ignore[attr-defined, no-any-return]


def unchanged(stack: StackFixture, before: dict) -> None:  # type: ignore[type-arg]
    after = stack.inspect(before["Id"])
    assert after["Name"] == before["Name"]
    assert after["State"]["Running"] and after["State"]["StartedAt"] == before["State"]["StartedAt"]
    assert after["Config"] == before["Config"]
    assert after["NetworkSettings"]["Networks"].keys() == before["NetworkSettings"]["Networks"].keys()


def test_bystander_is_never_touched(stack: StackFixture, unmanaged: list[str]) -> None:
    bystander = squat(stack, unmanaged, f"bystander-{uuid.uuid4().hex[:8]}")
    labelled_elsewhere = squat(stack, unmanaged, f"{stack.name}-x", {"io.hostform.stack": f"{stack.name}x"})
    stack.write(BODY)
    stack.apply()
    stack.write(BODY.split("[containers.other]")[0])  # a deletion in the stack
    stack.apply()
    assert stack.plan().code == 0
    assert stack.run("destroy", str(stack.file), "--auto-approve").code == 0
    unchanged(stack, bystander)
    unchanged(stack, labelled_elsewhere)


@pytest.mark.parametrize(
    "labels", [None, {"io.hostform.stack": "someone-else", "io.hostform.name": "web"}], ids=["no-label", "other-stack"]
)
def test_squatter_on_declared_name_is_a_conflict(
    stack: StackFixture, unmanaged: list[str], labels: dict[str, str] | None
) -> None:
    squatter = squat(stack, unmanaged, f"{stack.name}-web", labels)
    stack.write(BODY)

    plan = stack.plan()
    assert plan.code == 1, plan.both
    assert "conflict" in plan.both and f"{stack.name}-web" in plan.both, plan.both
    assert "Traceback" not in plan.both
    assert "matches the host" not in plan.out, plan.out  # a conflicted stack never looks converged

    applied = stack.apply(check=False)
    assert applied.code == 1, applied.both
    assert "conflict" in applied.both and "Traceback" not in applied.both
    assert stack.containers() == [] or all(c["Names"][0] != f"/{stack.name}-web" for c in stack.containers())
    unchanged(stack, squatter)

    destroyed = stack.run("destroy", str(stack.file), "--auto-approve")
    assert destroyed.code == 0, destroyed.both
    unchanged(stack, squatter)


def test_conflict_clears_once_the_squatter_leaves(stack: StackFixture, unmanaged: list[str]) -> None:
    squat(stack, unmanaged, f"{stack.name}-web")
    stack.write(BODY)
    assert stack.plan().code == 1
    stack.api.remove_container(f"{stack.name}-web", force=True)  # type: ignore[attr-defined]
    unmanaged.clear()
    stack.apply()
    assert stack.plan().code == 0
    labels = stack.inspect(f"{stack.name}-web")["Config"]["Labels"]
    assert labels["io.hostform.stack"] == stack.name


def test_names_that_only_resemble_a_declared_one_are_not_conflicts(stack: StackFixture, unmanaged: list[str]) -> None:
    # The engine matches a name filter as a regex anywhere in the name: only exact names count.
    for name in (f"{stack.name}-webx", f"x{stack.name}-web", f"{stack.name}-other.1"):
        squat(stack, unmanaged, name)
    stack.write(BODY)
    plan = stack.plan()
    assert plan.code == 2 and "conflict" not in plan.both, plan.both
    stack.apply()
    assert stack.plan().code == 0


def test_squatter_on_a_declared_network_is_a_conflict(stack: StackFixture) -> None:
    api = stack.api
    squatter = api.create_network(f"{stack.name}_default")["Id"]  # type: ignore[attr-defined]
    try:
        stack.write(BODY)
        plan = stack.plan()
        assert plan.code == 1, plan.both
        assert "conflict" in plan.both and f"{stack.name}_default" in plan.both, plan.both
        assert "Traceback" not in plan.both
        assert stack.apply(check=False).code == 1
        assert api.inspect_network(squatter)["Labels"] in (None, {})  # type: ignore[attr-defined]
    finally:
        api.remove_network(squatter)  # type: ignore[attr-defined]


def test_a_network_with_a_foreign_container_attached_is_never_taken_from_it(
    stack: StackFixture, unmanaged: list[str]
) -> None:
    with_net = BODY + 'networks = ["front"]\n\n[networks.front]\n'
    stack.write(with_net)
    stack.apply()
    api = stack.api
    name = f"foreign-{uuid.uuid4().hex[:8]}"
    ident = api.create_container(  # type: ignore[attr-defined]
        BUSYBOX,
        ["sleep", "600"],
        name=name,
        host_config=api.create_host_config(network_mode=f"{stack.name}_front"),  # type: ignore[attr-defined]
        stop_signal="SIGKILL",
    )["Id"]
    unmanaged.append(name)
    api.start(ident)  # type: ignore[attr-defined]
    foreign = api.inspect_container(ident)  # type: ignore[attr-defined]

    stack.write(BODY)  # the network is no longer declared
    result = stack.apply(check=False)
    assert result.code == 1 and "hostform does not manage attached" in result.both, result.both
    assert foreign["Name"].lstrip("/") in result.both
    networks = stack.inspect(foreign["Id"])["NetworkSettings"]["Networks"]
    assert f"{stack.name}_front" in networks  # still attached

    destroyed = stack.run("destroy", str(stack.file), "--auto-approve")
    assert destroyed.code == 1 and "hostform does not manage attached" in destroyed.both, destroyed.both
    assert f"{stack.name}_front" in stack.inspect(foreign["Id"])["NetworkSettings"]["Networks"]
    stack.api.disconnect_container_from_network(foreign["Id"], f"{stack.name}_front")  # type: ignore[attr-defined]
