"""Table-driven planner tests: one JSON file per case under tests/fixtures/plans/<kind>/.

A case holds the stack (TOML), what the engine has (each container's last-applied
spec given as a patch over the desired one, its live state and in-place settings),
and the expected changes (and, under "said" / "not_said", what the reasons tell or must not).
Adding a case is adding a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hostform.declare import names
from hostform.declare.canonical import canonical_json, service_spec, spec_hash
from hostform.declare.load import load
from hostform.declare.names import Naming
from hostform.plans.diff import PlanOptions, make_plan
from hostform.runtime.container_config import network_attachments
from hostform.runtime.records import (
    Conflict,
    LiveSettings,
    Observed,
    ObservedContainer,
    ObservedNetwork,
    ObservedVolume,
)

CASES = sorted((Path(__file__).parents[1] / "fixtures" / "plans").glob("*/*.json"))
KEY = b"k" * 16
IMAGE_ID = "sha256:" + "a" * 64


def _merge(base: Any, patch: Any) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = dict(base)
        for k, v in patch.items():
            out[k] = _merge(base.get(k), v) if v is not None or k not in base else None
        return out
    return patch


def _observed(case: dict[str, Any], loaded: Any) -> Observed:
    stack = loaded.stack
    live = case.get("live", {})
    containers = []
    for i, c in enumerate(live.get("containers", [])):
        name, replica = c["name"], c.get("replica", 1)
        spec = stack.services().get(name)
        desired = service_spec(loaded, name, KEY) if spec else {}
        applied = None if c.get("last_applied") == "none" else _merge(desired, c.get("last_applied_patch", {}))
        settings = None
        if spec is not None:
            nets = tuple((n, tuple(a)) for n, a in network_attachments(Naming(stack.name), name, spec))
            base = {
                "restart": spec.restart,
                "memory": spec.memory,
                "memory_reservation": spec.memory_reservation,
                "cpus": spec.cpus,
                "pids_limit": spec.pids_limit,
            }
            base.update(c.get("live_settings", {}))
            if "networks" in c.get("live_settings", {}):
                nets = tuple((n, tuple(a)) for n, a in c["live_settings"]["networks"].items())
            base["networks"] = nets
            settings = LiveSettings(**base)
        kind = "job" if name in stack.jobs else "container"
        replicas = spec.replicas if spec else 1
        containers.append(
            ObservedContainer(
                id=f"{i:064x}",
                engine_name=c.get("engine_name", names.container_name(stack.name, name, replica, replicas)),
                name=name,
                kind=c.get("kind", kind),
                replica=replica,
                image_id=c.get("image_id", IMAGE_ID),
                state=c.get("state", "running"),
                health=c.get("health"),
                exit_code=c.get("exit_code"),
                last_applied=applied,
                spec_hash=spec_hash(applied) if applied else None,
                settings=settings,
                file_hashes=tuple((t, h) for t, h in c.get("file_hashes", {}).items()),
            )
        )
    networks = [
        ObservedNetwork(
            id=f"n{n['name']}",
            engine_name=names.network_name(stack.name, n["name"]),
            name=n["name"],
            driver=n.get("driver", "bridge"),
            internal=n.get("internal", False),
            attachable=n.get("attachable", False),
            subnet=n.get("subnet"),
            gateway=n.get("gateway"),
            labels=n.get("labels", {}),
            options=n.get("options", {}),
        )
        for n in live.get("networks", [{"name": "default"}])
    ]
    volumes = [
        ObservedVolume(
            names.volume_name(stack.name, v), v, v.get("driver", "local") if isinstance(v, dict) else "local"
        )
        for v in live.get("volumes", [])
    ]
    conflicts = [Conflict(c["kind"], c["engine_name"], "x" * 12, None) for c in live.get("conflicts", [])]
    images = {s.image: live.get("image_ids", {}).get(s.image, IMAGE_ID) for s in stack.services().values()}
    missing = tuple(live.get("missing_paths", ()))
    return Observed(
        stack.name, tuple(containers), tuple(networks), tuple(volumes), tuple(conflicts), images, KEY, missing
    )


@pytest.mark.parametrize("case_file", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_planner_case(case_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = json.loads(case_file.read_text())
    for k, v in case.get("env", {}).items():
        monkeypatch.setenv(k, v)
    (tmp_path / "hostform.toml").write_text(case["stack"])
    for rel, text in case.get("files", {}).items():
        (tmp_path / rel).write_text(text)
    loaded = load(tmp_path)
    options = PlanOptions(
        replace=tuple(case.get("replace", ())),
        targets=tuple(case.get("target", ())),
        prune_volumes=case.get("prune_volumes", False),
    )
    plan = make_plan(loaded, _observed(case, loaded), options)
    got = [
        {
            "address": c.address,
            "action": c.action.value,
            **({"paths": sorted(r.path for r in c.reasons if r.path)} if any(r.path for r in c.reasons) else {}),
        }
        for c in plan.actionable
    ]
    assert got == case["expected"], json.dumps(got, indent=1)
    for fragment in case.get("conflicts", []):
        assert any(fragment in c for c in plan.conflicts), plan.conflicts
    for fragment in case.get("warnings", []):
        assert any(fragment in w for w in plan.warnings), plan.warnings
    rendered = canonical_json([str(r) for c in plan.changes for r in c.reasons])
    said = [str(r) for c in plan.actionable for r in c.reasons]
    for fragment in case.get("said", []):  # what the plan tells the reader, beyond field paths
        assert any(fragment in line for line in said), said
    for fragment in case.get("not_said", []):
        assert not any(fragment in line for line in said), said
    for secret in case.get("env", {}).values():
        assert secret not in rendered
