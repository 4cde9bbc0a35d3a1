"""Table-driven tests of the pure planner on Swarm: one JSON file per case under
tests/fixtures/swarm_plans/<kind>/.

A case holds the stack (TOML, target = "swarm"), what the manager has and the expected changes.
Each live service is the spec hostform would send for the declaration (runtime.swarm_spec), then:
`applied_patch` (merged into the spec before hostform's sent-digest label is taken: what an
earlier apply sent), `last_applied_patch` (merged into the last-applied canonical spec label),
`live_patch` (merged after: a hand update, or the defaults Swarm fills in; the patches are
tests/unit/test_planner_table.py's), `image` (the
reference it runs), `update_state`. Networks, configs and secrets default to what the stack
declares; the registry pins every image at sha256:aaa...; three nodes with 8 GiB and 2 CPUs.
Adding a case is adding a file.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hostform.declare import names
from hostform.declare.canonical import canonical_json, spec_hash
from hostform.declare.load import LoadedStack, load
from hostform.plans.swarm_plan import swarm_plan, wanted_files
from hostform.runtime import swarm
from hostform.runtime.swarm import SwarmFile, SwarmNetwork, SwarmNode, SwarmObserved
from hostform.runtime.swarm_spec import service_body, service_name
from tests.unit.test_planner_table import _merge

CASES = sorted((Path(__file__).parents[1] / "fixtures" / "swarm_plans").glob("*/*.json"))
KEY = b"k" * 16
DIGEST = "sha256:" + "a" * 64


def _service(loaded: LoadedStack, i: int, live: dict[str, Any], images: dict[str, str | None]) -> swarm.SwarmService:
    name = live["name"]
    stack = loaded.stack
    if name in stack.services():
        ref = stack.services()[name].image
        body = service_body(loaded, name, KEY, live.get("image") or images.get(ref) or ref, {})
    else:  # no longer declared: what an earlier apply made
        labels = names.owner_labels(stack.name, name, live.get("kind", "container"))
        body = {"Name": service_name(stack.name, name), "Labels": labels, "TaskTemplate": {}, "Mode": {}}
    body = _merge(body, live.get("applied_patch", {}))
    labels = body["Labels"]
    if "last_applied_patch" in live:
        canonical = _merge(json.loads(labels[names.LABEL_SPEC]), live["last_applied_patch"])
        labels[names.LABEL_SPEC] = canonical_json(canonical)
        labels[names.LABEL_SPEC_HASH] = spec_hash(canonical)
    if live.get("last_applied") == "none":
        labels.pop(names.LABEL_SPEC, None)
    labels[swarm.LABEL_SENT] = swarm.owned_digest(body)
    body = _merge(body, live.get("live_patch", {}))
    raw = {"ID": f"{i:025x}", "Version": {"Index": 10 + i}, "Spec": body}
    if "update_state" in live:
        raw["UpdateStatus"] = {"State": live["update_state"], "Message": live.get("update_message", "")}
    service = swarm._service(raw)
    if "networks" in live:  # the networks its tasks join, by ID as Swarm keeps them
        service = replace(service, networks=tuple(f"net-{n}" for n in live["networks"]))
    return service


def _networks(loaded: LoadedStack, case: dict[str, Any]) -> list[SwarmNetwork]:
    stack = loaded.stack
    declared = [
        {"name": k, "labels": n.labels, "internal": n.internal, "options": n.options, "subnet": n.subnet}
        for k, n in stack.all_networks().items()
        if not n.external
    ]
    out = []
    for n in case.get("live", {}).get("networks", declared):
        labels = {**n.get("labels", {}), **names.owner_labels(stack.name, n["name"], "network")}
        out.append(
            SwarmNetwork(
                id=f"net-{n['name']}",
                engine_name=names.network_name(stack.name, n["name"]),
                name=n["name"],
                driver=n.get("driver", "overlay"),
                attachable=n.get("attachable", True),
                labels=labels,
                internal=n.get("internal", False),
                subnet=n.get("subnet"),
                gateway=n.get("gateway"),
                options=n.get("options", {}),
            )
        )
    return out


def _files(loaded: LoadedStack, case: dict[str, Any]) -> list[SwarmFile]:
    declared = [{"engine_name": e, "kind": k, "name": n} for e, (k, n) in wanted_files(loaded, KEY).items()]
    live = case.get("live", {}).get("files", declared)
    return [SwarmFile(f"file-{i}", f["engine_name"], f["kind"], f["name"]) for i, f in enumerate(live)]


def _nodes(case: dict[str, Any]) -> list[SwarmNode]:
    given = case.get("live", {}).get("nodes") or [{"hostname": f"s{i}"} for i in (1, 2, 3)]
    return [
        SwarmNode(
            id=f"node-{n['hostname']}",
            hostname=n["hostname"],
            role=n.get("role", "manager" if n["hostname"] == "s1" else "worker"),
            state=n.get("state", "ready"),
            availability=n.get("availability", "active"),
            labels=tuple(sorted(n.get("labels", {"name": n["hostname"]}).items())),
            memory=n.get("memory", 8 * 2**30),
            nano_cpus=n.get("nano_cpus", 2 * 10**9),
        )
        for n in given
    ]


def _observed(loaded: LoadedStack, case: dict[str, Any]) -> SwarmObserved:
    live = case.get("live", {})
    refs = {s.image for s in loaded.stack.services().values()}
    images: dict[str, str | None] = {ref: f"{ref}@{DIGEST}" for ref in refs}
    images.update(live.get("registry", {}))
    problems = {ref: why for ref, why in live.get("image_problems", {}).items()}
    services = [_service(loaded, i, s, images) for i, s in enumerate(live.get("services", []))]
    return SwarmObserved(
        loaded.name,
        tuple(services),
        (),
        tuple(_nodes(case)),
        tuple(_files(loaded, case)),
        tuple(_networks(loaded, case)),
        KEY,
        images,
        problems,
    )


@pytest.mark.parametrize("case_file", CASES, ids=[f"{p.parent.name}/{p.stem}" for p in CASES])
def test_swarm_planner_case(case_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = json.loads(case_file.read_text())
    for k, v in case.get("env", {}).items():
        monkeypatch.setenv(k, v)
    (tmp_path / "hostform.toml").write_text('[stack]\nname = "s"\ntarget = "swarm"\n' + case["stack"])
    loaded = load(tmp_path)
    plan = swarm_plan(loaded, _observed(loaded, case), KEY)
    got = [
        {
            "address": c.address,
            "action": c.action.value,
            **({"paths": sorted(r.path for r in c.reasons if r.path)} if any(r.path for r in c.reasons) else {}),
        }
        for c in plan.actionable
    ]
    assert got == case["expected"], json.dumps(got, indent=1)
    said = [str(r) for c in plan.changes for r in c.reasons]
    for fragment in case.get("says", []):
        assert any(fragment in line for line in said), said
    for fragment in case.get("conflicts", []):
        assert any(fragment in c for c in plan.conflicts), plan.conflicts
    for fragment in case.get("warnings", []):
        assert any(fragment in w for w in plan.warnings), plan.warnings
    if "conflicts" not in case:
        assert not plan.conflicts, plan.conflicts
    rendered = canonical_json(said)
    for secret in case.get("env", {}).values():
        assert secret not in rendered


def test_the_table_covers_the_cases_the_planner_tells_apart() -> None:
    kinds = {p.parent.name for p in CASES}
    assert {"services", "networks", "files", "scheduling"} <= kinds, kinds
