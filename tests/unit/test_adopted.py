"""Adopted objects (`hostform adopt`: no labels, the record says they are the stack's) in the planner,
drift, destroy and the record, without an engine."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hostform.declare import names
from hostform.declare.frozen import changed
from hostform.plans.diff import PlanOptions, destroy_plan, make_plan
from hostform.plans.model import Action, ReasonKind
from hostform.plans.recording import Outcome, build_generation
from hostform.runtime.records import LiveSettings, Observed, ObservedVolume
from tests.unit.test_drift_detect import KEY, check, host, load_stack, record_of


def _adopted(observed: Observed) -> Observed:
    """Every object as `hostform adopt` leaves it: no hostform label, flagged adopted."""
    return replace(
        observed,
        containers=tuple(changed(c, adopted=True, settings=_unlabelled(c.settings)) for c in observed.containers),
        networks=tuple(replace(n, labels={}, adopted=True) for n in observed.networks),
        volumes=tuple(replace(v, labels={}, adopted=True) for v in observed.volumes),
    )


def _unlabelled(settings: LiveSettings | None) -> LiveSettings | None:
    if settings is None:
        return None
    return changed(settings, labels=tuple((k, v) for k, v in settings.labels if not k.startswith("io.hostform.")))


def test_an_adopted_host_that_matches_plans_nothing_and_has_no_drift(tmp_path: Path) -> None:
    loaded = load_stack(tmp_path)
    observed = _adopted(host(loaded))
    assert not make_plan(loaded, observed).has_changes
    report = check(loaded, observed)
    assert report.in_sync, report.findings


def test_an_adopted_container_under_another_name_is_renamed_in_place(tmp_path: Path) -> None:
    loaded = load_stack(tmp_path)
    observed = _adopted(host(loaded))
    moved = tuple(changed(c, engine_name="s_web_1") if c.name == "web" else c for c in observed.containers)
    change = next(c for c in make_plan(loaded, replace(observed, containers=moved)).changes if c.name == "web")
    assert change.action is Action.UPDATE and change.engine_name == "s-web"
    (rename,) = [r for r in change.reasons if r.kind is ReasonKind.RENAME]
    assert (rename.before, rename.after) == ("s_web_1", "s-web")
    assert "docker rename" in str(rename)
    # the same name on a container hostform made is a leftover of an interrupted apply: replaced
    labelled = tuple(changed(c, adopted=False) for c in moved)
    change = next(c for c in make_plan(loaded, replace(observed, containers=labelled)).changes if c.name == "web")
    assert change.action is Action.REPLACE


def test_adopted_volumes_are_never_deleted(tmp_path: Path) -> None:
    loaded = load_stack(tmp_path)
    observed = _adopted(host(loaded))
    plan = destroy_plan("s", observed, volumes=True)
    assert not [c for c in plan.changes if c.kind == names.Kind.VOLUME]
    assert any("docker volume rm s_data" in w for w in plan.warnings), plan.warnings
    assert {c.kind for c in plan.changes} == {names.Kind.CONTAINER, names.Kind.JOB, names.Kind.NETWORK}
    extra = ObservedVolume("s_old", "old", "local", adopted=True)
    pruned = make_plan(loaded, replace(observed, volumes=(*observed.volumes, extra)), PlanOptions(prune_volumes=True))
    assert not [c for c in pruned.changes if c.action is Action.DELETE]
    assert any("s_old" in w and "adopted" in w for w in pruned.warnings)


def test_the_record_keeps_what_is_still_adopted_and_the_key(tmp_path: Path) -> None:
    loaded = load_stack(tmp_path)
    observed = _adopted(host(loaded))
    previous = record_of(observed)
    entries = {"containers.web": {"id": "w", "spec": {}}, "networks.default": {"id": "n"}, "volumes.data": {"id": "v"}}
    plan = make_plan(loaded, observed)
    first = build_generation(loaded, plan, Outcome(), "adopt", observed, previous, 4, adopting=entries, key=KEY.hex())
    assert first.adopted == entries and first.key == KEY.hex()
    # the web container replaced by apply (labelled now), the default network still the adopted one
    after = replace(
        observed,
        containers=tuple(changed(c, adopted=False) if c.name == "web" else c for c in observed.containers),
    )
    second = build_generation(loaded, plan, Outcome(), "apply", after, first, 5)
    assert set(second.adopted) == {"networks.default", "volumes.data"} and second.key == KEY.hex()
    # hostform's own default network now: it carries the key, the record need not
    own = replace(
        after,
        networks=tuple(replace(n, adopted=False) if n.name == "default" else n for n in after.networks),
    )
    third = build_generation(loaded, plan, Outcome(), "apply", own, second, 6)
    assert set(third.adopted) == {"volumes.data"} and third.key is None
