"""An image tag that now resolves to another image ID is a replacement naming both IDs."""

from __future__ import annotations

import json

from tests.integration.conftest import BUSYBOX, BUSYBOX2, StackFixture


def image_id(stack: StackFixture, ref: str) -> str:
    return str(stack.api.inspect_image(ref)["Id"])  # type: ignore[attr-defined]


def test_retagged_image_is_a_replacement(stack: StackFixture, private_tag: str) -> None:
    stack.write(f"""
[containers.app]
image = "{private_tag}"
pull = "never"
command = ["sleep", "600"]
stop_signal = "SIGKILL"

[containers.bystander]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
""")
    stack.apply()
    old_id, new_id = image_id(stack, BUSYBOX), image_id(stack, BUSYBOX2)
    assert old_id != new_id
    before = stack.inspect(f"{stack.name}-app")["Id"]
    bystander = stack.inspect(f"{stack.name}-bystander")["Id"]

    repo, tag = private_tag.rsplit(":", 1)
    stack.api.tag(BUSYBOX2, repo, tag, force=True)  # type: ignore[attr-defined]

    plan = stack.plan()
    assert plan.code == 2, plan.both
    assert "-/+" in plan.out
    short_old, short_new = old_id.removeprefix("sha256:")[:12], new_id.removeprefix("sha256:")[:12]
    assert short_old in plan.out and short_new in plan.out, plan.out
    assert f"{stack.name}-bystander" not in plan.out
    data = json.loads(stack.run("plan", str(stack.file), "--json").out)
    change = next(c for c in data["resource_changes"] if c["address"] == "containers.app")
    reason = next(r for r in change["reasons"] if r["kind"] == "image")
    assert (reason["before"], reason["after"]) == (old_id, new_id)

    stack.apply()
    info = stack.inspect(f"{stack.name}-app")
    assert info["Id"] != before and info["Image"] == new_id
    assert stack.inspect(f"{stack.name}-bystander")["Id"] == bystander
    assert stack.plan().code == 0
