"""The JSON form of `hostform drift --json` is pinned by the schema in docs/drift.md."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from rich.console import Console

from hostform.declare.load import load
from hostform.plans.drift import SWARM_DRIFT, Drift, DriftReport, FieldDrift, Finding, report_json, unset_secrets
from hostform.plans.drift_view import DriftView
from hostform.runtime.records import Conflict
from tests.unit.test_drift_detect import (
    CASES,
    NOW,
    STACK,
    check,
    host,
    load_stack,
    with_container,
    with_settings,
)

DOC = Path(__file__).parents[2] / "docs" / "drift.md"


def pinned_schema() -> dict[str, Any]:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    schemas = [json.loads(b) for b in blocks if '"$schema"' in b]
    assert len(schemas) == 1, "docs/drift.md holds exactly one JSON Schema"
    jsonschema.Draft202012Validator.check_schema(schemas[0])
    return schemas[0]


def every_kind(tmp_path: Path) -> DriftReport:
    """One report holding every kind of drift."""
    loaded = load_stack(tmp_path)
    o = host(loaded)
    o = with_container(o, "worker", state="exited", exit_code=137)
    o = with_settings(o, "web", memory=1, env=(("MODE", "b"), ("PASSWORD", "guess")))
    o = replace(o, containers=tuple(c for c in o.containers if c.name != "migrate"))
    o = replace(o, conflicts=(Conflict("volume", "s_data", "s_data", None),), volumes=())
    o = replace(o, image_ids={"img:1": "sha256:" + "c" * 64})
    findings = list(check(loaded, o).findings)
    for mutate, _ in CASES.values():
        findings += check(loaded, mutate(host(loaded))).findings
    new = load_stack(tmp_path, STACK.replace("replicas = 2", "replicas = 1") + '\n[containers.cache]\nimage = "x"\n')
    findings += check(new, host(load_stack(tmp_path))).findings
    taken = FieldDrift(
        "ports[0.0.0.0:8080/tcp]", "s-web", "pid 812 (nginx)"
    )  # read from the host: tests/unit/test_portdrift.py
    findings.append(Finding("container", "web", "containers.web", "s-web", Drift.PORT, (taken,), "served by nginx"))
    report = check(loaded, o)
    return replace(report, findings=tuple(findings))


def test_every_kind_of_drift_validates(tmp_path: Path) -> None:
    report = every_kind(tmp_path)
    assert {f.drift for f in report.findings} == set(Drift) - SWARM_DRIFT
    doc = report_json(report)
    jsonschema.validate(doc, pinned_schema())
    text = json.dumps(doc)
    assert "hunter2" not in text and "guess" not in text and "hmac-sha256" not in text


def test_swarm_kinds_validate() -> None:
    findings = tuple(
        Finding("node" if d is Drift.NODE_DOWN else "container", "x", "containers.x", "s_x", d, detail="evidence")
        for d in sorted(SWARM_DRIFT)
    )
    jsonschema.validate(report_json(DriftReport("s", NOW, findings)), pinned_schema())


def test_the_schema_lists_exactly_the_kinds_the_code_knows() -> None:
    schema = pinned_schema()
    assert schema["$defs"]["resource"]["properties"]["drift"]["enum"] == [d.value for d in Drift]
    assert schema["required"] == list(report_json(DriftReport("s", NOW, ())).keys())


def test_counts_and_verdict(tmp_path: Path) -> None:
    pending = Finding("container", "a", "containers.a", "s-a", Drift.PENDING)
    stopped = Finding("container", "b", "containers.b", "s-b", Drift.STOPPED)
    doc = report_json(DriftReport("s", NOW, (pending,)))
    assert (doc["in_sync"], doc["drift_count"], doc["pending_count"]) == (True, 0, 1)
    doc = report_json(DriftReport("s", NOW, (pending,), include_pending=True))
    assert (doc["in_sync"], doc["drift_count"], doc["pending_count"]) == (False, 1, 1)
    doc = report_json(DriftReport("s", NOW, (pending, stopped)))
    assert (doc["in_sync"], doc["drift_count"]) == (False, 1)
    assert doc["checked_at"] == "2026-01-31T03:00:00Z"


@pytest.mark.parametrize("include_pending", [False, True])
def test_text_is_a_table_with_a_verdict(tmp_path: Path, include_pending: bool) -> None:
    report = replace(every_kind(tmp_path), include_pending=include_pending)
    console = Console(width=160, record=True, color_system=None)
    console.print(DriftView(report))
    text = console.export_text()
    assert text.splitlines()[0].split() == ["resource", "engine", "name", "drift", "evidence"]
    assert "Drift:" in text and "hunter2" not in text
    empty = Console(width=160, record=True, color_system=None)
    empty.print(DriftView(DriftReport("s", NOW, ())))
    assert "No drift" in empty.export_text()


def test_no_drift_on_a_pipe_is_one_plain_line_without_rich() -> None:
    code = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from hostform.plans.drift import DriftReport\n"
        "from hostform.plans.drift_view import print_report\n"
        "print_report(DriftReport('s', datetime(2026, 1, 31, 3, tzinfo=UTC), ()))\n"
        "assert 'rich' not in sys.modules\n"
    )
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "No drift: stack 's' matches what hostform applied.\n"


def test_secrets_not_set_where_drift_runs_are_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Drift needs no secret values: an unset one stands for the value last applied, and the report
    says which ones it could not compare (text and JSON); with every secret set it says nothing."""
    monkeypatch.delenv("PASSWORD", raising=False)
    path = tmp_path / "hostform.toml"
    path.write_text(STACK, encoding="utf-8")
    assert unset_secrets(load(path, environ={}, secrets_optional=True)) == ("PASSWORD",)
    assert unset_secrets(load_stack(tmp_path)) == ()
    report = DriftReport("s", NOW, (), unset_secrets=("PASSWORD",))
    doc = report_json(report)
    assert doc["unset_secrets"] == ["PASSWORD"] and doc["in_sync"]
    jsonschema.validate(doc, pinned_schema())
    assert "unset_secrets" not in report_json(DriftReport("s", NOW, ()))
    console = Console(width=200, record=True, color_system=None)
    console.print(DriftView(report))
    assert "Not compared: a new value of PASSWORD (not set here" in console.export_text()
