"""Services whose build is the same (context digest and build network) get one build per apply,
tagged for each repository; a content already built under one name is only tagged for another."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from hostform.declare.builds import BuildRef
from hostform.plans.diff import image_changes
from hostform.plans.model import ALSO_TAGGED, Action, Change, Reason, ReasonKind

DIGEST = "4b5d" + "0" * 60


def _ref(repo: str, digest: str = DIGEST, push: bool = False) -> BuildRef:
    return BuildRef(repo, digest, Path("/srv/app/db"), "Dockerfile", push=push)


def _create(name: str) -> Change:
    return Change(f"containers.{name}", "container", name, f"app-{name}", Action.CREATE, (Reason(ReasonKind.NEW),))


def _changes(builds: dict[str, BuildRef], present: set[str] = frozenset()) -> list[Change]:  # type: ignore[assignment]
    loaded: Any = SimpleNamespace(builds=builds)
    observed: Any = SimpleNamespace(
        image_ids={b.ref: ("sha256:1" if b.ref in present else None) for b in builds.values()}, repo_digests={}
    )
    return list(image_changes(loaded, observed, [_create(n) for n in builds]))


def test_the_same_context_under_two_repositories_is_built_once() -> None:
    builds = {"db": _ref("app/db"), "migrate": _ref("app/migrate")}
    (change,) = _changes(builds)
    assert change.action is Action.BUILD and change.engine_name == builds["db"].ref and change.current_id is None
    (tags,) = [r for r in change.reasons if r.path == ALSO_TAGGED]
    assert tags.after == [builds["migrate"].ref]
    assert str(tags) == f"built once, also tagged {builds['migrate'].ref}"
    assert [str(r) for r in change.reasons if r.kind is ReasonKind.NEW] == ["for db"]


def test_a_content_built_under_one_name_is_only_tagged_for_the_other() -> None:
    builds = {"db": _ref("app/db"), "migrate": _ref("app/migrate")}
    (change,) = _changes(builds, present={builds["db"].ref})
    assert change.action is Action.BUILD and change.engine_name == builds["migrate"].ref
    assert change.current_id == builds["db"].ref  # tag that one: nothing is built
    assert f"the same build as {builds['db'].ref}: tagged, not built again" in [str(r) for r in change.reasons]


def test_other_contexts_are_built_each() -> None:
    builds = {"db": _ref("app/db"), "web": _ref("app/web", digest="9" * 64)}
    assert [(c.action, c.engine_name) for c in _changes(builds)] == [
        (Action.BUILD, builds["db"].ref),
        (Action.BUILD, builds["web"].ref),
    ]
    assert not any(r.path == ALSO_TAGGED for c in _changes(builds) for r in c.reasons)


def test_one_repository_for_two_services_stays_one_build() -> None:
    builds = {"a": _ref("app/shared"), "b": _ref("app/shared")}
    (change,) = _changes(builds)
    assert [str(r) for r in change.reasons] == ["for a, b"]
