"""--fix: a plan of the drifted resources only, with the action each drift needs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hostform.plans.diff import make_plan
from hostform.plans.drift import fix_plan
from hostform.plans.model import Action
from hostform.runtime.records import Conflict
from tests.unit.test_drift_detect import (
    STACK,
    check,
    host,
    load_stack,
    with_container,
    with_settings,
    without,
)


def actions(tmp_path: Path, observed_change, stack_text: str = STACK, pending: bool = False):  # type: ignore[no-untyped-def]
    old = load_stack(tmp_path)
    observed = observed_change(host(old))
    loaded = load_stack(tmp_path, stack_text)
    report = check(loaded, observed, pending=pending)
    fix = fix_plan(report, make_plan(loaded, observed))
    return {c.address: c.action for c in fix.actionable}, fix


def test_each_drift_gets_its_remedy(tmp_path: Path) -> None:
    def drift(o):  # type: ignore[no-untyped-def]
        o = with_container(o, "worker", state="exited", exit_code=137)  # stopped -> start
        o = with_settings(o, "web", memory=1)  # in-place field -> update
        return without(o, "s-migrate")  # missing job -> create (re-run)

    got, _ = actions(tmp_path, drift)
    assert got == {
        "containers.worker[1]": Action.START,
        "containers.worker[2]": Action.START,
        "containers.web": Action.UPDATE,
        "jobs.migrate": Action.CREATE,
    }


def test_a_field_the_engine_cannot_update_needs_a_replacement(tmp_path: Path) -> None:
    got, fix = actions(tmp_path, lambda o: with_settings(o, "web", env=(("MODE", "b"), ("PASSWORD", "hunter2"))))
    assert got == {"containers.web": Action.REPLACE}
    assert [r.path for r in fix.actionable[0].reasons] == ["env.MODE"]


def test_unhealthy_is_restarted_and_with_an_update_replaced(tmp_path: Path) -> None:
    got, _ = actions(tmp_path, lambda o: with_container(o, "web", health="unhealthy"))
    assert got == {"containers.web": Action.RESTART}
    got, _ = actions(tmp_path, lambda o: with_settings(with_container(o, "web", health="unhealthy"), "web", memory=1))
    assert got == {"containers.web": Action.REPLACE}


def test_failed_job_is_rerun_and_orphans_deleted(tmp_path: Path) -> None:
    got, _ = actions(
        tmp_path, lambda o: with_container(o, "migrate", exit_code=1), STACK.replace("replicas = 2", "replicas = 1")
    )
    assert got == {"jobs.migrate": Action.REPLACE, "containers.worker[2]": Action.DELETE}


def test_pending_changes_are_left_alone_unless_included(tmp_path: Path) -> None:
    edited = STACK.replace('MODE = "a"', 'MODE = "b"')
    got, _ = actions(tmp_path, lambda o: o, edited)
    assert got == {}
    got, _ = actions(tmp_path, lambda o: o, edited, pending=True)
    assert got == {"containers.web": Action.REPLACE}


def test_squatters_are_never_touched(tmp_path: Path) -> None:
    def squat(o):  # type: ignore[no-untyped-def]
        return replace(without(o, "s-web"), conflicts=(Conflict("container", "s-web", "x" * 64, None),))

    got, fix = actions(tmp_path, squat)
    assert got == {}
    assert fix.conflicts == () and fix.warnings and "cannot fix containers.web" in fix.warnings[0]


def test_the_fix_keeps_the_plan_key(tmp_path: Path) -> None:
    # a replacement writes the canonical spec with the stack's secret-hashing key
    _, fix = actions(tmp_path, lambda o: with_settings(o, "web", labels=()))
    assert fix.key == b"k" * 16


def test_a_limit_set_by_hand_on_a_container_declared_without_one_is_replaced(tmp_path: Path) -> None:
    """`docker update --memory 128m` on a container declared without memory: the engine's update
    API cannot lift a limit (0 reads as unchanged, -1 is refused), so --fix replaces, and says why."""
    no_memory = STACK.replace('memory = "64m"\n', "")
    got, fix = actions(tmp_path, lambda o: with_settings(o, "web", memory=128 * 2**20), no_memory)
    assert got == {"containers.web": Action.REPLACE}
    assert "cannot lift a limit in place" in str(fix.actionable[0].reasons[0])
