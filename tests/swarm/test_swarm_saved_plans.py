"""Saved plans, --target and --replace on Swarm, as on one host (docs/swarm.md)."""

from __future__ import annotations

from pathlib import Path

from tests.swarm.conftest import SwarmStack
from tests.swarm.test_swarm_record import SLEEPER, history


def two(mode: str = "a", other: str = "a") -> str:
    app = f'[containers.app]{SLEEPER}env = {{ MODE = "{mode}" }}\n\n'
    return app + f'[containers.other]{SLEEPER}env = {{ MODE = "{other}" }}\n'


def test_a_saved_plan_applies_once_and_a_stale_one_is_refused(swarm_stack: SwarmStack, tmp_path: Path) -> None:
    stack = swarm_stack
    stack.write(two())
    first = tmp_path / "first.plan"
    made = stack.run("plan", str(stack.file), "--out", str(first))
    assert made.code == 0, made.both  # never applied: no key yet, the plan is saved all the same
    applied = stack.run("apply", str(first))
    assert applied.code == 0 and "Apply complete: 3 actions" in applied.out, applied.both
    assert {s["Spec"]["Name"] for s in stack.labelled("service")} == {f"{stack.name}_app", f"{stack.name}_other"}

    stack.write(two("b"))
    second = tmp_path / "second.plan"
    assert stack.run("plan", str(stack.file), "--out", str(second)).code == 0
    stale = tmp_path / "stale.plan"
    assert stack.run("plan", str(stack.file), "--out", str(stale)).code == 0
    assert stack.run("apply", str(second)).code == 0
    env = stack.service("app")["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert "MODE=b" in env
    again = stack.run("apply", str(stale))  # the swarm moved on since it was made
    assert again.code == 1 and "saved plan is stale" in again.err and "Traceback" not in again.err, again.both
    assert f"service {stack.name}_app was changed" in again.err

    stack.write(two("c"))  # the file changed after the plan: refused too
    third = tmp_path / "third.plan"
    assert stack.run("plan", str(stack.file), "--out", str(third)).code == 0
    stack.write(two("d"))
    refused = stack.run("apply", str(third))
    assert refused.code == 1 and "saved plan is stale" in refused.err, refused.both
    assert "MODE=b" in stack.service("app")["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"]
    assert [g["operation"] for g in history(stack)["generations"]] == ["apply", "apply"]


def test_target_and_replace_are_honoured(swarm_stack: SwarmStack) -> None:
    stack = swarm_stack
    stack.write(two())
    stack.apply()
    stack.write(two("b", "b"))
    plan = stack.plan("--target", "app")
    assert plan.code == 2 and "containers.app" in plan.out and "containers.other" not in plan.out, plan.both
    stack.apply("--target", "app")
    env = {n: stack.service(n)["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"] for n in ("app", "other")}
    assert "MODE=b" in env["app"] and "MODE=a" in env["other"], env

    stack.write(two("b", "a"))  # back to what `other` runs: nothing to do
    before = {t["ID"] for t in stack.tasks("app")}
    forced = stack.plan("--replace", "app")
    assert forced.code == 2 and "replacement forced with --replace" in forced.out, forced.both
    stack.apply("--replace", "app")
    after = {t["ID"] for t in stack.tasks("app")}
    assert after and not after & before  # every task replaced
    assert stack.service("app")["Spec"]["TaskTemplate"]["ForceUpdate"] == 1
    noop = stack.plan()
    assert noop.code == 0 and "No changes" in noop.out, noop.both  # ForceUpdate is kept, not a diff
    one = stack.plan("--replace", "app[1]")
    assert one.code == 1 and "replaced together" in one.err and "Traceback" not in one.err, one.both
    unknown = stack.plan("--target", "nope")
    assert unknown.code == 1 and "--target nope" in unknown.err, unknown.both
