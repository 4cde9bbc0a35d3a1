"""Saved plans: JSON with a format_version, refused at apply time when stale."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostform.declare.errors import PlanError
from hostform.declare.load import LoadedStack
from hostform.plans.model import Plan
from hostform.plans.render import plan_json

FORMAT_VERSION = "1.0"
KIND = "hostform-plan"


@dataclass(frozen=True)
class SavedPlan:
    stack: str
    stack_path: str
    var: list[str]
    var_file: list[str]
    replace: list[str]
    target: list[str]
    fingerprint: str
    live: dict[str, str]
    body: dict[str, Any]

    def actions(self) -> list[tuple[str, str]]:
        return [(c["address"], c["action"]) for c in self.body["resource_changes"] if c["action"] != "no-op"]


def save_plan(
    path: str,
    plan: Plan,
    loaded: LoadedStack,
    var: list[str],
    var_file: list[str],
    replace: list[str],
    target: list[str],
) -> None:
    doc = {
        "kind": KIND,
        **plan_json(plan),
        "stack_path": str(loaded.path.resolve()),
        "var": var,
        "var_file": [str(Path(v).resolve()) for v in var_file],
        "replace": replace,
        "target": target,
        "live": plan.live,
        "desired": desired_digest(loaded, plan),
    }
    try:
        Path(path).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"cannot write the plan to {path}: {exc.strerror or exc}") from None


def desired_digest(loaded: LoadedStack, plan: Plan) -> str:
    """The declaration as it would be applied, as one digest: every container's and job's canonical
    spec (config files by digest, secrets by hash under the stack's key), networks and volumes.
    A stack not applied yet has no key: its secrets are left out (any value fits what was shown)."""
    import hashlib

    from hostform.declare.canonical import canonical_json, service_spec

    key = plan.key if plan.key_known else b""
    services = {}
    for name in sorted(loaded.stack.services()):
        spec = service_spec(loaded, name, key)
        if not plan.key_known:
            spec["env"] = {k: ({"secret": "?"} if isinstance(v, dict) else v) for k, v in spec["env"].items()}
            spec["files"] = [{**f, "sha256": "?"} if f["secret"] else f for f in spec["files"]]
        services[name] = spec
    doc = {
        "services": services,
        "networks": {n: s.model_dump(mode="json") for n, s in sorted(loaded.stack.networks.items())},
        "volumes": {n: s.model_dump(mode="json") for n, s in sorted(loaded.stack.volumes.items())},
    }
    return hashlib.sha256(canonical_json(doc).encode()).hexdigest()


def is_plan_file(path: str) -> bool:
    """A saved plan (`plan --out`); the JSON rendering of a plan (`plan --json`) is refused with a hint."""
    p = Path(path)
    if not p.is_file() or p.suffix == ".toml":
        return False
    try:
        doc = json.loads(_read(path))
    except (ValueError, PlanError):
        return False
    if isinstance(doc, dict) and doc.get("kind") != KIND and "resource_changes" in doc:
        raise PlanError(
            f"{path} is a plan's JSON rendering (plan --json), which cannot be applied: "
            "save a plan to apply with `hostform plan STACK --out FILE`"
        )
    return isinstance(doc, dict) and doc.get("kind") == KIND


def _read(path: str, limit: int | None = None) -> str:
    """A regular file only (never /dev/stdin or a FIFO), at most `limit` bytes."""
    from hostform.declare.access import PathRefused, read_regular

    try:
        return read_regular(path, limit).decode("utf-8")
    except PathRefused as exc:
        raise PlanError(f"cannot read saved plan: {exc}") from None


def load_plan_file(path: str, limit: int | None = None) -> SavedPlan:
    """limit: at most so many bytes (show --untrusted)."""
    try:
        doc = json.loads(_read(path, limit))
    except ValueError as exc:
        raise PlanError(f"{path}: cannot read saved plan: {exc}") from None
    if not isinstance(doc, dict):
        raise PlanError(f"{path}: not a hostform plan file")
    if doc.get("kind") != KIND:
        raise PlanError(f"{path}: not a hostform plan file")
    if str(doc.get("format_version", "")).split(".")[0] != FORMAT_VERSION.split(".")[0]:
        raise PlanError(
            f"{path}: plan format_version {doc.get('format_version')!r} is not supported (expected {FORMAT_VERSION})"
        )
    try:
        return SavedPlan(
            stack=doc["stack"],
            stack_path=doc["stack_path"],
            var=list(doc["var"]),
            var_file=list(doc["var_file"]),
            replace=list(doc["replace"]),
            target=list(doc["target"]),
            fingerprint=doc["fingerprint"],
            live=dict(doc["live"]),
            body=doc,
        )
    except (KeyError, TypeError) as exc:
        raise PlanError(f"{path}: saved plan lacks {exc}") from None


def check_fresh(saved: SavedPlan, plan: Plan, loaded: LoadedStack) -> None:
    """Refuse a plan whose live state, declaration or actions no longer match what was shown."""
    if saved.fingerprint != plan.fingerprint:
        raise PlanError("saved plan is stale: " + "; ".join(_live_differences(saved.live, plan.live)))
    now = [(c.address, c.action.value) for c in plan.actionable]
    changed_inputs = (
        "saved plan is stale: the stack file or what it reads (variables, var files, env files, "
        "config files, templates, secrets) changed since the plan was made"
    )
    if now != saved.actions():
        raise PlanError(changed_inputs)
    if saved.body.get("desired") not in (None, desired_digest(loaded, plan)):
        raise PlanError(changed_inputs)


def _live_differences(before: dict[str, str], after: dict[str, str]) -> list[str]:
    out = []
    for obj in sorted(set(before) | set(after)):
        if obj not in after:
            out.append(f"{obj} was removed since the plan was made")
        elif obj not in before:
            out.append(f"{obj} was created since the plan was made")
        elif before[obj].split("/")[0] != after[obj].split("/")[0]:
            out.append(f"{obj} was replaced since the plan was made")
        elif obj.startswith("container ") and before[obj].split("/")[1] != after[obj].split("/")[1]:
            was, now = before[obj].split("/")[1], after[obj].split("/")[1]
            out.append(f"{obj} is {now} (was {was} when the plan was made)")
        elif before[obj] != after[obj]:
            out.append(f"{obj} was changed since the plan was made")
    return out or ["the host changed since the plan was made"]


def plan_from_doc(doc: dict[str, Any]) -> Plan:
    """A Plan back from its JSON form, for `show` (reasons keep their printed text)."""
    from hostform.plans.model import Action, Change, Reason, ReasonKind

    changes = []
    for c in doc.get("resource_changes", []):
        reasons = tuple(
            Reason(
                ReasonKind(r["kind"]),
                r.get("path", ""),
                r.get("before"),
                r.get("after"),
                text=r.get("text", ""),
                outside=bool(r.get("outside")),
                diff=r.get("diff", ""),
            )
            for r in c.get("reasons", [])
        )
        changes.append(
            Change(
                c["address"],
                c["kind"],
                c["name"],
                c["engine_name"],
                Action(c["action"]),
                reasons,
                int(c.get("replica", 1)),
                c.get("current_id"),
                tuple((str(a["key"]), str(a["value"])) for a in c.get("attributes", [])),
                tuple(str(r) for r in c.get("risks", [])),
            )
        )
    return Plan(
        stack=doc["stack"],
        changes=tuple(changes),
        fingerprint=doc.get("fingerprint", ""),
        conflicts=tuple(doc.get("conflicts", [])),
        warnings=tuple(doc.get("warnings", [])),
        live=doc.get("live", {}),
    )
