"""The Swarm planner with the record, --target and --replace, from facts alone (no manager):
hand-made copies are told, never deleted; --target keeps what a service needs; --replace is a
forced rolling update of every task."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hostform.declare.canonical import service_spec
from hostform.declare.errors import HostformError
from hostform.declare.load import LoadedStack, load
from hostform.plans.diff import PlanOptions
from hostform.plans.model import Action, PlanMode, ReasonKind
from hostform.plans.render import plan_json
from hostform.plans.swarm_commands import destroy_plan_of, plan_of
from hostform.plans.swarm_plan import swarm_plan, wanted_files
from hostform.runtime.generation import Generation
from hostform.runtime.swarm import SwarmFile, SwarmNetwork, SwarmObserved, SwarmService
from hostform.runtime.swarm_spec import service_name
from tests.unit.test_record import GEN

KEY = b"k" * 16
IMAGE = "reg.test:5000/app:1"
PINNED = IMAGE + "@sha256:" + "a" * 64
STACK = """
[stack]
name = "shop"
target = "swarm"

[files.conf]
content = "x=1"

[networks.back]

[containers.web]
image = "reg.test:5000/app:1"
networks = ["back"]
files = [{ source = "conf", target = "/etc/app.conf" }]

[containers.db]
image = "reg.test:5000/app:1"
"""


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedStack:
    (tmp_path / "hostform.toml").write_text(STACK, encoding="utf-8")
    return load(tmp_path / "hostform.toml")


def service(loaded: LoadedStack, name: str, engine_name: str | None = None) -> SwarmService:
    return SwarmService(
        id=f"id-{engine_name or name}",
        engine_name=engine_name or service_name("shop", name),
        name=name,
        kind="container",
        version=7,
        image=PINNED,
        mode="replicated",
        replicas=1,
        last_applied=service_spec(loaded, name, KEY),
        spec_hash="h",
        sent="same",
        owned="same",
        update_state=None,
        update_message="",
    )


def applied(loaded: LoadedStack, *extra: SwarmService, record: Generation | None = None) -> SwarmObserved:
    (conf,) = wanted_files(loaded, KEY)
    return SwarmObserved(
        stack="shop",
        services=(service(loaded, "db"), service(loaded, "web"), *extra),
        tasks=(),
        nodes=(),
        files=(SwarmFile("cf", conf, "config", "conf"),),
        networks=(
            SwarmNetwork("n1", "shop_default", "default", "overlay", True),
            SwarmNetwork("n2", "shop_back", "back", "overlay", True),
        ),
        key=KEY,
        images={IMAGE: PINNED},
        record=record,
    )


def generation(*engine_names: str) -> Generation:
    return replace(
        GEN, stack="shop", number=3, resources=(), known=dict.fromkeys(engine_names, 3), adopted={}, key=None
    )


def test_a_copy_with_copied_labels_is_told_never_deleted(loaded: LoadedStack) -> None:
    copy = service(loaded, "web", "shop_copy")  # labels copied from web: its name label says "web"
    ours = ("shop_web", "shop_db", "shop_default", "shop_back", *wanted_files(loaded, KEY))
    plan = swarm_plan(loaded, applied(loaded, copy, record=generation(*ours)), KEY)
    assert not plan.has_changes
    assert any("'shop_copy'" in w and "no apply recorded it" in w for w in plan.warnings)


def test_an_undeclared_service_the_record_lists_is_deleted(loaded: LoadedStack) -> None:
    old = service(loaded, "web", "shop_old")
    ours = ("shop_web", "shop_db", "shop_old", "shop_default", "shop_back", *wanted_files(loaded, KEY))
    plan = swarm_plan(loaded, applied(loaded, replace(old, name="old"), record=generation(*ours)), KEY)
    assert [(c.engine_name, c.action) for c in plan.actionable] == [("shop_old", Action.DELETE)]
    without_record = swarm_plan(loaded, applied(loaded, replace(old, name="old")), KEY)  # before the record
    assert [c.engine_name for c in without_record.actionable] == ["shop_old"]


def test_target_keeps_the_service_and_what_it_needs(tmp_path: Path) -> None:
    (tmp_path / "hostform.toml").write_text(STACK, encoding="utf-8")
    stack = load(tmp_path / "hostform.toml")
    empty = SwarmObserved("shop", (), (), (), (), (), None, {IMAGE: PINNED})
    everything = swarm_plan(stack, empty, KEY)
    assert {c.address for c in everything.actionable} == {
        "networks.default",
        "networks.back",
        "files.conf",
        "containers.web",
        "containers.db",
    }
    web = swarm_plan(stack, empty, KEY, PlanOptions(targets=("web",)))
    assert {c.address for c in web.actionable} == {"networks.back", "files.conf", "containers.web"}
    db = swarm_plan(stack, empty, KEY, PlanOptions(targets=("db",)))
    assert {c.address for c in db.actionable} == {"networks.default", "containers.db"}


def test_replace_is_a_forced_rolling_update(loaded: LoadedStack) -> None:
    plan = swarm_plan(loaded, applied(loaded), KEY, PlanOptions(replace=("web",)))
    (change,) = plan.actionable
    assert change.address == "containers.web" and change.action is Action.UPDATE
    assert [r.kind for r in change.reasons] == [ReasonKind.FORCED, ReasonKind.FIELD]
    assert change.reasons[-1].text.startswith("rolling update")
    with pytest.raises(HostformError, match="replaced together"):
        plan_of(loaded, applied(loaded), PlanOptions(replace=("web[1]",)))


def test_destroy_is_a_plan_in_destroy_mode_as_on_one_host(loaded: LoadedStack) -> None:
    """The mode is what the JSON plan and a saved plan carry: a Swarm destroy says "destroy" there,
    not "normal" (what an apply of the stack file would be)."""
    ours = ("shop_web", "shop_db", "shop_default", "shop_back", *wanted_files(loaded, KEY))
    plan = destroy_plan_of("shop", applied(loaded, record=generation(*ours)))
    assert plan.mode is PlanMode.DESTROY
    assert {c.action for c in plan.actionable} == {Action.DELETE} and len(plan.actionable) == 5
    assert plan_json(plan)["mode"] == "destroy"
    assert plan_json(plan)["summary"] == {"add": 0, "replace": 0, "change": 0, "destroy": 5}
