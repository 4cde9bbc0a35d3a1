"""The JSON plan is pinned by templates/plan.schema.json."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import jsonschema
import pytest

from hostform.plans.model import Action, Change, Plan, PlanMode, Reason, ReasonKind, ReplaceOrder
from hostform.plans.render import plan_json

SCHEMA = json.loads((Path(__file__).parents[2] / "templates" / "plan.schema.json").read_text())


def _plan() -> Plan:
    return Plan(
        stack="blog",
        fingerprint="abc",
        changes=(
            Change("networks.default", "network", "default", "blog_default", Action.CREATE, (Reason(ReasonKind.NEW),)),
            Change(
                "containers.web",
                "container",
                "web",
                "blog-web",
                Action.REPLACE,
                (
                    Reason(ReasonKind.FIELD, "env.PW", {"secret": "hmac-sha256:1"}, {"secret": "hmac-sha256:2"}),
                    Reason(ReasonKind.IMAGE, "img:1", "sha256:aaa", "sha256:bbb"),
                ),
                current_id="1" * 64,
            ),
            Change(
                "containers.db",
                "container",
                "db",
                "blog-db",
                Action.UPDATE,
                (Reason(ReasonKind.LIVE, "memory", 1, 2, outside=True),),
                current_id="2" * 64,
            ),
            Change(
                "volumes.old", "volume", "old", "blog_old", Action.DELETE, (Reason(ReasonKind.ORPHAN, text="gone"),)
            ),
        ),
        conflicts=("container 'blog-x' already exists (not managed by hostform); hostform will not touch it",),
    )


def test_plan_json_follows_the_schema() -> None:
    doc = plan_json(_plan())
    jsonschema.validate(doc, SCHEMA)
    assert doc["summary"] == {"add": 1, "replace": 1, "change": 1, "destroy": 1}
    web = doc["resource_changes"][1]
    assert web["actions"] == ["delete", "create"] and web["replace_paths"] == ["env.PW"]
    assert doc["resource_drift"] == [
        {"address": "containers.db", "engine_name": "blog-db", "paths": ["memory"], "text": ["memory: 1 -> 2"]}
    ]


def test_secrets_are_masked_in_json() -> None:
    text = json.dumps(plan_json(_plan()))
    assert "hmac-sha256" not in text
    assert '"before": "(secret)"' in text


def test_schema_rejects_unknown_fields() -> None:
    doc = plan_json(_plan())
    doc["resource_changes"][0]["surprise"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, SCHEMA)


def test_the_rendering_says_the_mode_whether_it_applies_and_the_replacement_order() -> None:
    doc = plan_json(_plan())
    assert doc["mode"] == "normal" and doc["applicable"] is False  # it has a conflict
    web = doc["resource_changes"][1]
    assert web["replace_order"] is None  # a change made without one (the planner always sets it)
    start_first = replace(_plan(), changes=(replace(_plan().changes[1], order=ReplaceOrder.START_FIRST),))
    doc = plan_json(replace(start_first, conflicts=(), mode=PlanMode.FIX))
    jsonschema.validate(doc, SCHEMA)
    (web,) = doc["resource_changes"]
    assert web["replace_order"] == "start-first" and web["actions"] == ["create", "delete"]
    assert doc["mode"] == "fix" and doc["applicable"] is True


def test_the_json_rendering_is_refused_as_a_plan_to_apply(tmp_path: Path) -> None:
    from hostform.declare.errors import PlanError
    from hostform.plans.planfile import is_plan_file

    rendered = tmp_path / "plan.json"
    rendered.write_text(json.dumps(plan_json(_plan())))
    with pytest.raises(PlanError, match="plan --json.*--out FILE"):
        is_plan_file(str(rendered))
    other = tmp_path / "other.json"
    other.write_text('{"a": 1}')
    assert is_plan_file(str(other)) is False
