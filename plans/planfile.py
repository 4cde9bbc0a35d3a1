"""Saved plans (`plan --out`, applied with `apply FILE`): a format of their own, versioned.

The file is not the `--json` rendering (that one is for people and pipelines, pinned by
templates/plan.schema.json): it holds what `apply` needs to redo the plan and refuse it when
stale, encoded and decoded here alone. A file of another major version is refused.

    {"kind": "hostform-plan", "version": 2, "request": {...}, "desired": "...", "plan": {...}}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hostform.declare.errors import PlanError
from hostform.declare.load import LoadedStack
from hostform.declare.names import Kind
from hostform.declare.secrets import MASK
from hostform.plans.model import Action, Change, Plan, PlanMode, Reason, ReasonKind, ReplaceOrder

KIND = "hostform-plan"
VERSION = 2  # 1 was the --json rendering with the request added (hostform before the split)


@dataclass(frozen=True)
class PlanRequest:
    """How the plan was asked for: `apply FILE` plans again the same way."""

    stack_path: str
    var: tuple[str, ...] = ()
    var_file: tuple[str, ...] = ()
    replace: tuple[str, ...] = ()
    target: tuple[str, ...] = ()

    @classmethod
    def of(
        cls, loaded: LoadedStack, var: list[str], var_file: list[str], replace: list[str], target: list[str]
    ) -> PlanRequest:
        """The request with its files as absolute paths (a plan may be applied from another directory)."""
        return cls(
            str(loaded.path.resolve()),
            tuple(var),
            tuple(str(Path(v).resolve()) for v in var_file),
            tuple(replace),
            tuple(target),
        )


@dataclass(frozen=True)
class SavedPlan:
    request: PlanRequest
    plan: Plan
    desired: str | None = None  # digest of the declaration as planned (see desired_digest)

    @property
    def stack(self) -> str:
        return self.plan.stack

    def actions(self) -> list[tuple[str, str]]:
        return [(c.address, c.action.value) for c in self.plan.actionable]


# ---------------------------------------------------------------- the encoder and the decoder


def encode(saved: SavedPlan) -> dict[str, Any]:
    """The saved plan as a JSON document (secrets only ever as a mask; the key is never saved)."""
    r = saved.request
    return {
        "kind": KIND,
        "version": VERSION,
        "request": {
            "stack_path": r.stack_path,
            "var": list(r.var),
            "var_file": list(r.var_file),
            "replace": list(r.replace),
            "target": list(r.target),
        },
        "desired": saved.desired,
        "plan": _encode_plan(saved.plan),
    }


def _encode_plan(plan: Plan) -> dict[str, Any]:
    return {
        "stack": plan.stack,
        "mode": plan.mode.value,
        "fingerprint": plan.fingerprint,
        "conflicts": list(plan.conflicts),
        "warnings": list(plan.warnings),
        "live": dict(plan.live),
        "key_known": plan.key_known,
        "changes": [_encode_change(c) for c in plan.changes],
    }


def _encode_change(c: Change) -> dict[str, Any]:
    return {
        "address": c.address,
        "kind": c.kind,
        "name": c.name,
        "engine_name": c.engine_name,
        "action": c.action.value,
        "order": c.order.value if c.order else None,
        "attributes": [[k, v] for k, v in c.attributes],
        "risks": list(c.risks),
        "replica": c.replica,
        "current_id": c.current_id,
        "reasons": [
            {
                "kind": r.kind.value,
                "path": r.path,
                "before": _masked(r.before),
                "after": _masked(r.after),
                "text": r.text,
                "outside": r.outside,
                "diff": r.diff,
            }
            for r in c.reasons
        ],
    }


def _masked(value: Any) -> Any:
    """Values as JSON, a canonical secret ({"secret": digest}) as the mask the plan shows."""
    if isinstance(value, dict) and set(value) == {"secret"}:
        return {"secret": MASK}
    if isinstance(value, dict):
        return {str(k): _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def decode(doc: Any, source: str = "saved plan") -> SavedPlan:
    """A saved plan back from its document; one clear error naming what is wrong."""
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise PlanError(f"{source}: not a hostform plan file")
    version = doc.get("version", doc.get("format_version"))
    if not isinstance(version, int) or version != VERSION:
        raise PlanError(
            f"{source}: plan file version {version!r} is not supported (this hostform reads version {VERSION}); "
            "make the plan again with `hostform plan STACK --out FILE`"
        )
    from hostform.plans.planshape import ShapeError, check_shape

    try:
        check_shape(doc)
    except ShapeError as exc:
        raise PlanError(f"{source}: saved plan is damaged: {exc}") from None
    try:
        r, p = doc["request"], doc["plan"]
        request = PlanRequest(
            stack_path=str(r["stack_path"]),
            var=tuple(str(v) for v in r["var"]),
            var_file=tuple(str(v) for v in r["var_file"]),
            replace=tuple(str(v) for v in r["replace"]),
            target=tuple(str(v) for v in r["target"]),
        )
        plan = Plan(
            stack=str(p["stack"]),
            changes=tuple(_decode_change(c) for c in p["changes"]),
            fingerprint=str(p["fingerprint"]),
            conflicts=tuple(str(c) for c in p["conflicts"]),
            warnings=tuple(str(w) for w in p["warnings"]),
            live={str(k): str(v) for k, v in p["live"].items()},
            key_known=bool(p["key_known"]),
            mode=PlanMode(p["mode"]),
        )
        desired = doc["desired"]
    except KeyError as exc:
        raise PlanError(f"{source}: saved plan is damaged: {exc} is missing") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise PlanError(f"{source}: saved plan is damaged: {exc}") from None
    return SavedPlan(request, plan, None if desired is None else str(desired))


def _decode_change(c: dict[str, Any]) -> Change:
    return Change(
        address=str(c["address"]),
        kind=Kind(c["kind"]),
        name=str(c["name"]),
        engine_name=str(c["engine_name"]),
        action=Action(c["action"]),
        reasons=tuple(
            Reason(
                ReasonKind(r["kind"]),
                str(r["path"]),
                r["before"],
                r["after"],
                text=str(r["text"]),
                outside=bool(r["outside"]),
                diff=str(r["diff"]),
            )
            for r in c["reasons"]
        ),
        replica=int(c["replica"]),
        current_id=None if c["current_id"] is None else str(c["current_id"]),
        order=None if c["order"] is None else ReplaceOrder(c["order"]),
        attributes=tuple((str(k), str(v)) for k, v in c["attributes"]),
        risks=tuple(str(r) for r in c["risks"]),
    )


# ---------------------------------------------------------------- files


def save_plan(path: str, plan: Plan, loaded: LoadedStack, request: PlanRequest) -> None:
    saved = SavedPlan(request, plan, desired_digest(loaded, plan))
    try:
        Path(path).write_text(json.dumps(encode(saved), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise PlanError(f"cannot write the plan to {path}: {exc.strerror or exc}") from None


def is_plan_file(path: str) -> bool:
    """A saved plan (`plan --out`); the JSON rendering of a plan (`plan --json`) is refused with a hint."""
    p = Path(path)
    if not p.is_file() or p.suffix == ".toml":
        return False
    from hostform.plans.planshape import ShapeError, check_text

    try:
        text = _read(path)
        check_text(text)
        doc = json.loads(text)
    except (ValueError, PlanError, ShapeError):
        return False
    if isinstance(doc, dict) and doc.get("kind") != KIND and "resource_changes" in doc:
        raise PlanError(
            f"{path} is a plan's JSON rendering (plan --json), which cannot be applied: "
            "save a plan to apply with `hostform plan STACK --out FILE`"
        )
    return isinstance(doc, dict) and doc.get("kind") == KIND


def load_plan_file(path: str, limit: int | None = None) -> SavedPlan:
    """limit: at most so many bytes (show --untrusted). Size and nesting are measured before the
    text is parsed, the document's shape before it is decoded (plans.planshape)."""
    from hostform.plans.planshape import ShapeError, check_text

    text = _read(path, limit)
    try:
        check_text(text)
    except ShapeError as exc:
        raise PlanError(f"{path}: saved plan is damaged: {exc}") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise PlanError(f"{path}: cannot read saved plan: {exc}") from None
    return decode(doc, path)


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


def _read(path: str, limit: int | None = None) -> str:
    """A regular file only (never /dev/stdin or a FIFO), at most `limit` bytes."""
    from hostform.declare.access import PathRefused, read_regular
    from hostform.plans.planshape import MAX_PLAN_BYTES

    try:
        return read_regular(path, MAX_PLAN_BYTES if limit is None else limit).decode("utf-8")
    except PathRefused as exc:
        raise PlanError(f"cannot read saved plan: {exc}") from None
    except UnicodeDecodeError:
        raise PlanError(f"{path}: cannot read saved plan: not UTF-8 text") from None


def check_fresh(saved: SavedPlan, plan: Plan, loaded: LoadedStack) -> None:
    """Refuse a plan whose live state, declaration or actions no longer match what was shown."""
    again = plan_again(saved.request)
    if saved.plan.fingerprint != plan.fingerprint:
        raise PlanError("saved plan is stale: " + "; ".join(_live_differences(saved.plan.live, plan.live)) + again)
    now = [(c.address, c.action.value) for c in plan.actionable]
    changed_inputs = (
        "saved plan is stale: the stack file or what it reads (variables, var files, env files, "
        "config files, templates, secrets) changed since the plan was made" + again
    )
    if now != saved.actions():
        raise PlanError(changed_inputs)
    if saved.desired not in (None, desired_digest(loaded, plan)):
        raise PlanError(changed_inputs)


def plan_again(request: PlanRequest) -> str:
    """What to do about a stale plan: the plan command that made it, to run again."""
    import shlex

    words = ["hostform", "plan", request.stack_path]
    for flag, values in (
        ("--var", request.var),
        ("--var-file", request.var_file),
        ("--replace", request.replace),
        ("--target", request.target),
    ):
        words += [w for v in values for w in (flag, v)]
    command = shlex.join([*words, "--out", "FILE"])
    return f". Nothing was changed: run plan again ({command}), review it, and apply the new plan"


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
