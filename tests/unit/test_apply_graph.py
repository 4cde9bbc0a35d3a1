"""The applier's graph without an engine: edges, the walk's order and limits, and the planner's order.

`Recorder` is the applier's `Work` that only records when each change ran (and fails
or stops the apply when told), so the walk itself is what is tested.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from hostform.declare import names
from hostform.declare.canonical import service_spec
from hostform.declare.errors import ApplyError, EngineError
from hostform.declare.frozen import changed
from hostform.declare.load import LoadedStack, load
from hostform.declare.names import Naming
from hostform.plans.apply import Applier, ApplyReport, Event, Interrupt, Notify
from hostform.plans.diff import _ordered, make_plan
from hostform.plans.graph import action_edges
from hostform.plans.model import Action, Change, Plan, Reason, ReasonKind, ReplaceOrder
from hostform.plans.work import prepare_images
from hostform.runtime.container_config import network_attachments
from hostform.runtime.records import LiveSettings, Observed, ObservedContainer, ObservedNetwork, ObservedVolume

STACK = """
[stack]
name = "s"

[networks.back]

[volumes.data]

[containers.db]
image = "img:1"
networks = ["back"]
volumes = ["data:/var/lib/db"]

[jobs.migrate]
image = "img:1"
networks = ["back"]
depends_on = { db = "healthy" }

[containers.web]
image = "img:1"
networks = ["back", "default"]
depends_on = { migrate = "completed", db = "healthy" }

[containers.worker]
image = "img:1"
replicas = 2
depends_on = ["db"]

[containers.front]
image = "img:1"
depends_on = { worker = "started" }

[containers.solo]
image = "img:1"
"""

KEY = b"k" * 16
IMAGE_ID = "sha256:" + "a" * 64


@pytest.fixture
def loaded(tmp_path: Path) -> LoadedStack:
    path = tmp_path / "hostform.toml"
    path.write_text(STACK, encoding="utf-8")
    return load(path)


def _change(address: str, action: Action = Action.CREATE, ident: str | None = None) -> Change:
    head, _, rest = address.partition(".")
    kind = {"networks": "network", "volumes": "volume", "containers": "container", "jobs": "job"}[head]
    name, _, replica = rest.partition("[")
    return Change(address, kind, name, f"s-{name}", action, (), int(replica.rstrip("]") or 1), ident)


CREATES = [
    "networks.back",
    "networks.default",
    "volumes.data",
    "containers.db",
    "jobs.migrate",
    "containers.web",
    "containers.worker[1]",
    "containers.worker[2]",
    "containers.front",
    "containers.solo",
]


def _plan(addresses: list[str], deletes: list[Change] = ()) -> Plan:  # type: ignore[assignment]
    return Plan("s", tuple(_change(a) for a in addresses) + tuple(deletes), "fp")


class Images:
    """The one part of the engine the walk itself uses: images, made ready before anything else."""

    def __init__(self, unpullable: tuple[str, ...] = ()) -> None:
        self.unpullable = unpullable
        self.pulled: list[str] = []

    def image_id(self, ref: str) -> str | None:
        return None  # nothing local: every pull = "missing" image is pulled

    def pull(self, ref: str) -> str:
        if ref in self.unpullable:
            raise EngineError(f"pull {ref}: no such host")
        self.pulled.append(ref)
        return "sha256:" + "1" * 64


class Recorder:
    """A `Work` whose changes only record their start and end; `fail` raises, `stop_at` plays a Ctrl-C.
    Images are made ready by the applier's own image step, against `images`."""

    def __init__(
        self,
        loaded: LoadedStack,
        plan: Plan,
        parallelism: int = 10,
        fail: tuple[str, ...] = (),
        stop_at: str = "",
        hold: float = 0.0,
        images: Images | None = None,
    ) -> None:
        self.events: list[Event] = []
        self.loaded, self.images = loaded, images or Images()
        self.applier = Applier(loaded, plan, self, parallelism, self.events.append)
        self.fail, self.stop_at, self.hold = fail, stop_at, hold
        self.log: list[tuple[str, str]] = []  # ("start"|"end", engine name or address)
        self.running = self.most_at_once = 0
        self.guard = threading.Lock()

    def run(self) -> ApplyReport:
        return self.applier.run()

    def prepare(self, changes: Sequence[Change], notify: Notify) -> list[tuple[Change, str]]:
        return prepare_images(self.images, self.loaded, changes, notify)  # type: ignore[arg-type]

    def check_started(self, interrupt: Interrupt) -> list[tuple[Change, str]]:
        return []

    def perform(self, change: Change, interrupt: Interrupt) -> None:
        key = change.current_id or change.address
        with self.guard:
            self.log.append(("start", key))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        if change.address == self.stop_at:
            interrupt.stop.set()
        time.sleep(self.hold)
        with self.guard:
            self.running -= 1
            self.log.append(("end", key))
        if change.address in self.fail:
            raise ApplyError(f"{change.address} broke")

    def index(self, what: str, key: str) -> int:
        return self.log.index((what, key))


def _edges(loaded: LoadedStack, changes: list[Change]) -> dict[str, set[str]]:
    return action_edges(changes, loaded.stack.services())


# ---------------------------------------------------------------- edges


def test_edges_follow_networks_volumes_and_depends_on(loaded: LoadedStack) -> None:
    changes = [_change(a) for a in CREATES]
    edges = _edges(loaded, changes)
    assert edges == {
        "networks.back": set(),
        "networks.default": set(),
        "volumes.data": set(),
        "containers.db": {"networks.back", "volumes.data"},
        "jobs.migrate": {"networks.back", "containers.db"},
        "containers.web": {"networks.back", "networks.default", "jobs.migrate", "containers.db"},
        "containers.worker[1]": {"networks.default", "containers.db"},
        "containers.worker[2]": {"networks.default", "containers.db"},
        "containers.front": {"networks.default", "containers.worker[1]", "containers.worker[2]"},
        "containers.solo": {"networks.default"},
    }


def test_edges_only_link_changes_in_the_plan(loaded: LoadedStack) -> None:
    """Unchanged dependencies are not waited on in the graph (the action checks their condition)."""
    changes = [_change("containers.web"), _change("containers.worker[2]")]
    assert _edges(loaded, changes) == {"containers.web": set(), "containers.worker[2]": set()}


def test_replicas_are_replaced_one_after_another(loaded: LoadedStack) -> None:
    changes = [
        _change("containers.worker[2]", Action.REPLACE, "w2"),
        _change("containers.worker[1]", Action.REPLACE, "w1"),
        _change("containers.db", Action.REPLACE, "db"),
    ]
    edges = _edges(loaded, changes)
    assert edges["containers.worker[2]"] == {"containers.worker[1]", "containers.db"}
    assert edges["containers.worker[1]"] == {"containers.db"}
    created = [_change("containers.worker[1]"), _change("containers.worker[2]")]
    assert _edges(loaded, created)["containers.worker[2]"] == set()  # new ones: at once


# ---------------------------------------------------------------- the walk


def test_walk_runs_everything_after_what_it_needs(loaded: LoadedStack) -> None:
    applier = Recorder(loaded, _plan(CREATES), parallelism=4, hold=0.01)
    report = applier.run()
    assert report.ok and len(report.done) == len(CREATES)
    edges = _edges(loaded, [_change(a) for a in CREATES])
    for address, needs in edges.items():
        for need in needs:
            assert applier.index("end", need) < applier.index("start", address), (need, address)


@pytest.mark.parametrize("parallelism", [1, 3, 10])
def test_walk_never_runs_more_than_parallelism_at_once(loaded: LoadedStack, parallelism: int) -> None:
    independent = [_change(f"containers.gone{i}", Action.DELETE, f"id-{i}") for i in range(6)]
    applier = Recorder(loaded, _plan([], independent), parallelism=parallelism, hold=0.05)
    assert applier.run().ok
    assert applier.most_at_once == min(parallelism, len(independent))


def test_failure_skips_dependents_and_all_deletions(loaded: LoadedStack) -> None:
    orphan = _change("containers.old", Action.DELETE, "id-old")
    applier = Recorder(loaded, _plan(CREATES, [orphan]), fail=("containers.db",))
    report = applier.run()
    assert [c.address for c, _ in report.failed] == ["containers.db"]
    skipped = {c.address for c in report.skipped}
    assert skipped == {
        "jobs.migrate",
        "containers.web",
        "containers.worker[1]",
        "containers.worker[2]",
        "containers.front",
        "containers.old",
    }
    done = {c.address for c in report.done}
    assert done == {"networks.back", "networks.default", "volumes.data", "containers.solo"}
    assert ("start", "id-old") not in applier.log
    why = {e.address: e.message for e in applier.events if e.kind == "skipped"}
    assert why["containers.web"] == "a dependency failed" and why["containers.old"] == "an earlier action failed"
    assert not report.ok and not report.interrupted


def test_stop_finishes_in_flight_and_starts_nothing_more(loaded: LoadedStack) -> None:
    applier = Recorder(loaded, _plan(CREATES), parallelism=1, stop_at="networks.back")
    report = applier.run()
    assert report.interrupted
    assert [c.address for c in report.done] == ["networks.back"]  # the one in flight completed
    assert len(report.skipped) == len(CREATES) - 1
    assert {e.message for e in applier.events if e.kind == "skipped"} == {"interrupted"}


def test_deletions_run_last_containers_before_networks(loaded: LoadedStack) -> None:
    deletes = [
        _change("networks.gone", Action.DELETE, "id-net"),
        _change("volumes.gone", Action.DELETE, "id-vol"),
        _change("containers.gone", Action.DELETE, "id-ctr"),
        # leftovers of an interrupted apply share their container's address: both are removed
        _change("containers.db", Action.DELETE, "id-db-old"),
        _change("containers.db", Action.DELETE, "id-db-new"),
    ]
    applier = Recorder(loaded, _plan(["containers.solo", "networks.default"], deletes), parallelism=10)
    assert applier.run().ok
    last_create = max(applier.index("end", a) for a in ("containers.solo", "networks.default"))
    containers = [applier.index("start", k) for k in ("id-ctr", "id-db-old", "id-db-new")]
    assert min(containers) > last_create
    assert min(applier.index("start", k) for k in ("id-net", "id-vol")) > max(
        applier.index("end", k) for k in ("id-ctr", "id-db-old", "id-db-new")
    )


def test_failed_container_deletion_keeps_networks_and_says_so(loaded: LoadedStack) -> None:
    deletes = [_change("networks.gone", Action.DELETE, "id-net"), _change("containers.gone", Action.DELETE, "id-ctr")]
    applier = Recorder(loaded, _plan([], deletes), fail=("containers.gone",))
    report = applier.run()
    assert [c.address for c in report.skipped] == ["networks.gone"]
    assert ("start", "id-net") not in applier.log


def test_the_applier_refuses_a_plan_with_conflicts(loaded: LoadedStack) -> None:
    applier = Recorder(loaded, replace(_plan(CREATES), conflicts=("container 's-web' already exists",)))
    with pytest.raises(ApplyError, match="stack 's' cannot converge: container 's-web' already exists"):
        applier.run()
    assert applier.log == [] and applier.images.pulled == []


def test_a_container_that_does_not_hold_after_its_start_fails_the_apply(loaded: LoadedStack) -> None:
    class Dies(Recorder):
        def check_started(self, interrupt: Interrupt) -> list[tuple[Change, str]]:
            return [
                (c, "s-solo exited with code 1 right after it started")
                for c in self.applier.report.done
                if c.address == "containers.solo"
            ]

    orphan = _change("containers.old", Action.DELETE, "id-old")
    applier = Dies(loaded, _plan(CREATES, [orphan]))
    report = applier.run()
    assert [(c.address, why) for c, why in report.failed] == [
        ("containers.solo", "s-solo exited with code 1 right after it started")
    ]
    assert "containers.solo" not in {c.address for c in report.done}
    assert [c.address for c in report.skipped] == ["containers.old"]  # deletions wait for a converged apply


def test_the_planner_gives_each_replacement_its_order(loaded: LoadedStack) -> None:
    stray = _applied(loaded, "solo", "s-solo--new-ffffff", "running", "stray")
    job = changed(_applied(loaded, "migrate", "s-migrate", "created", "job"), exit_code=None)
    plan = make_plan(loaded, _host(loaded, [stray, job]))
    orders = {c.address: c.order for c in plan.changes if c.action is Action.REPLACE}
    assert orders == {"containers.solo": ReplaceOrder.STOP_FIRST, "jobs.migrate": ReplaceOrder.STOP_FIRST}


# ---------------------------------------------------------------- the planner's order


def test_ordered_puts_creations_first_and_deletions_last() -> None:
    changes = [
        _change("containers.web", Action.REPLACE, "w"),
        _change("networks.old", Action.DELETE, "n"),
        _change("containers.gone", Action.DELETE, "g"),
        _change("networks.front", Action.REPLACE, "f"),
        _change("volumes.data"),
        _change("jobs.migrate"),
        _change("networks.back"),
        _change("volumes.old", Action.DELETE, "v"),
        _change("networks.default", Action.NOOP, "d"),
    ]
    assert [c.address for c in _ordered(changes)] == [
        "networks.back",
        "volumes.data",  # phase 0: what containers need, by address
        "networks.front",  # a replaced network before the containers re-attach
        "networks.default",  # unchanged networks and volumes
        "containers.web",
        "jobs.migrate",  # containers and jobs, by address
        "containers.gone",  # container deletions
        "networks.old",
        "volumes.old",  # then what they used
    ]


def test_the_plan_lists_what_apply_runs_first_first(loaded: LoadedStack) -> None:
    """A job before the container waiting for it, a dependency before its dependents: the plan's
    order is one the applier's graph walks (issue 30: the plan listed web before migrate)."""
    plan = make_plan(loaded, _host(loaded, []))
    listed = [c.address for c in plan.changes if c.is_service]
    assert listed.index("jobs.migrate") < listed.index("containers.web")
    assert listed.index("containers.db") < listed.index("jobs.migrate")
    assert listed.index("containers.worker[2]") < listed.index("containers.front")
    edges = _edges(loaded, [c for c in plan.changes if c.action is not Action.DELETE])
    position = {c.address: i for i, c in enumerate(plan.changes)}
    assert all(position[need] < position[a] for a, needs in edges.items() for need in needs)


def test_replicas_replaced_one_after_another_are_listed_in_that_order(loaded: LoadedStack) -> None:
    from hostform.plans.graph import in_apply_order

    replicas = [_change(f"containers.worker[{i}]", Action.REPLACE, f"w{i}") for i in (10, 2, 1)]
    ordered = in_apply_order(replicas, loaded.stack.services())
    assert [c.replica for c in ordered] == [1, 2, 10]


# ---------------------------------------------------------------- leftovers of interrupted applies


def _applied(loaded: LoadedStack, name: str, engine_name: str, state: str, ident: str) -> ObservedContainer:
    stack = loaded.stack
    spec = stack.services()[name]
    kind = "job" if name in stack.jobs else "container"
    networks = tuple((n, tuple(a)) for n, a in network_attachments(Naming(stack.name), name, spec))
    return ObservedContainer(
        id=ident.ljust(64, "0"),
        engine_name=engine_name,
        name=name,
        kind=kind,
        replica=1,
        image_id=IMAGE_ID,
        state=state,
        health=None,
        exit_code=0 if state == "exited" else None,
        last_applied=service_spec(loaded, name, KEY),
        spec_hash="h",
        settings=LiveSettings(restart=spec.restart, networks=networks),
    )


def _host(loaded: LoadedStack, containers: list[ObservedContainer]) -> Observed:
    nets = tuple(
        ObservedNetwork(f"net-{n}", names.network_name("s", n), n, "bridge", False, False, None)
        for n in ("back", "default")
    )
    volumes = (ObservedVolume("s_data", "data", "local"),)
    return Observed("s", tuple(containers), nets, volumes, (), {"img:1": IMAGE_ID}, KEY)


def _actions(plan: Plan, name: str) -> list[tuple[str, str, str]]:
    return [
        (c.action.value, c.engine_name, c.current_id[:6] if c.current_id else "")
        for c in plan.changes
        if c.name == name
    ]


def test_stop_first_killed_after_the_swap_started(loaded: LoadedStack) -> None:
    """Old renamed --old and stopped, new --new running: the new one is brought home, the old deleted last."""
    old = _applied(loaded, "solo", "s-solo--old-aaaaaa", "exited", "old")
    new = _applied(loaded, "solo", "s-solo--new-bbbbbb", "running", "new")
    plan = make_plan(loaded, _host(loaded, [old, new]))
    assert _actions(plan, "solo") == [("replace", "s-solo", "new000"), ("delete", "s-solo--old-aaaaaa", "old000")]
    current = next(c for c in plan.changes if c.name == "solo" and c.action is Action.REPLACE)
    assert ReasonKind.LEFTOVER in {r.kind for r in current.reasons}


def test_new_container_left_before_the_swap_is_deleted(loaded: LoadedStack) -> None:
    home = _applied(loaded, "solo", "s-solo", "running", "home")
    stray = _applied(loaded, "solo", "s-solo--new-cccccc", "created", "stray")
    plan = make_plan(loaded, _host(loaded, [home, stray]))
    assert _actions(plan, "solo") == [("no-op", "s-solo", "home00"), ("delete", "s-solo--new-cccccc", "stray0")]


def test_job_created_but_never_started_runs_again(loaded: LoadedStack) -> None:
    job = changed(_applied(loaded, "migrate", "s-migrate", "created", "job"), exit_code=None)
    plan = make_plan(loaded, _host(loaded, [job]))
    assert _actions(plan, "migrate") == [("replace", "s-migrate", "job000")]


def test_delete_of_every_leftover_runs(loaded: LoadedStack) -> None:
    """Two leftovers of one container (two interrupted applies) are both removed in one apply."""
    home = _applied(loaded, "solo", "s-solo", "running", "home")
    first = _applied(loaded, "solo", "s-solo--old-dddddd", "exited", "first")
    second = _applied(loaded, "solo", "s-solo--old-eeeeee", "exited", "second")
    plan = make_plan(loaded, _host(loaded, [home, first, second]))
    applier = Recorder(loaded, plan)
    assert applier.run().ok
    assert {first.id, second.id} <= {k for what, k in applier.log if what == "end"}


def test_reason_of_a_leftover_is_plain(loaded: LoadedStack) -> None:
    stray = _applied(loaded, "solo", "s-solo--new-ffffff", "running", "stray")
    plan = make_plan(loaded, _host(loaded, [stray]))
    (change,) = [c for c in plan.changes if c.name == "solo"]
    assert change.action is Action.REPLACE
    assert "interrupted apply" in " ".join(str(r) for r in change.reasons)
    assert Reason(ReasonKind.LEFTOVER, text="named 's-solo--new-ffffff' by an interrupted apply") in change.reasons


# ---------------------------------------------------------------- images first


def test_images_are_pulled_once_before_any_action(loaded: LoadedStack) -> None:
    images = Images()
    rec = Recorder(loaded, _plan(CREATES), images=images)
    report = rec.run()
    assert report.ok and images.pulled == ["img:1"]


def test_an_image_that_cannot_be_pulled_stops_the_apply_before_it_starts(loaded: LoadedStack) -> None:
    rec = Recorder(loaded, _plan(CREATES), images=Images(unpullable=("img:1",)))
    report = rec.run()
    assert rec.log == []  # nothing was touched, not even the networks and volumes
    assert report.failed and all("no such host" in why for _, why in report.failed)
    assert {c.address for c, _ in report.failed} | {c.address for c in report.skipped} == set(CREATES)
    assert any(e.kind == "skipped" and "nothing was changed" in e.message for e in rec.events)
