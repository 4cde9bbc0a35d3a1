"""The JSON Schema of the stack format, for editors (taplo / Even Better TOML) and checks.

Two things the models alone would get wrong for a user editing a file:

- every string is rendered as a template before validation, so `replicas =
  "{{ vars.n }}"` is valid: each number, boolean or fixed choice also accepts a
  string holding a template;
- durations are stored as nanoseconds, but written as `"10s"`: their defaults
  are shown that way.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from hostform.declare.schema import Stack
from hostform.declare.units import format_duration, parse_duration

TEMPLATE_REF = "#/$defs/Template"
TEMPLATE = {
    "type": "string",
    "pattern": r"\{\{.*\}\}|\{%",
    "description": "a Jinja2 template, rendered before the value is checked",
}
_ANNOTATIONS = ("title", "description", "default", "examples")


def stack_json_schema() -> dict[str, Any]:
    # The models defer building their validators (a no-op plan never needs most of them).
    # A default that is itself a model instance (`network = NetworkSpec()`) is encoded with
    # its class's serializer, which some pydantic releases (2.13) do not build on demand there:
    # build every model first.
    for model in _models(Stack):
        model.model_rebuild()
    schema = Stack.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "hostform stack"
    # `[volumes.data]` with no keys parses as an empty table: already an object, fine.
    for model in _models(Stack):
        props = schema.get("$defs", {}).get(model.__name__, {}).get("properties", {})
        for name in _duration_fields(model):
            if isinstance(props.get(name, {}).get("default"), int):
                props[name]["default"] = format_duration(props[name]["default"])
    out: dict[str, Any] = _templatable(schema)
    out.setdefault("$defs", {})["Template"] = TEMPLATE
    return out


def _templatable(node: Any, wrap: bool = True) -> Any:
    """Let a string holding a template stand wherever a number, boolean or fixed choice goes
    (not where any string is already allowed beside it)."""
    if isinstance(node, list):
        return [_templatable(n, wrap) for n in node]
    if not isinstance(node, dict):
        return node
    branches = node.get("anyOf", [])
    any_string = any(isinstance(b, dict) and b == {"type": "string"} for b in branches)
    out = {k: (_templatable(v, not any_string) if k == "anyOf" else _templatable(v)) for k, v in node.items()}
    fixed = out.get("type") in ("integer", "number", "boolean") or "enum" in out or "const" in out or "pattern" in out
    if wrap and fixed and out.get("$ref") != TEMPLATE_REF:
        value = {k: v for k, v in out.items() if k not in _ANNOTATIONS}
        return {**{k: v for k, v in out.items() if k in _ANNOTATIONS}, "anyOf": [value, {"$ref": TEMPLATE_REF}]}
    return out


def _models(root: type[BaseModel]) -> list[type[BaseModel]]:
    """The model and every model its fields hold, directly or inside containers."""
    seen: list[type[BaseModel]] = []

    def visit(tp: Any) -> None:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            if tp in seen:
                return
            seen.append(tp)
            for field in tp.model_fields.values():
                visit(field.annotation)
            return
        for arg in getattr(tp, "__args__", ()) or ():
            visit(arg)

    visit(root)
    return seen


def _duration_fields(model: type[BaseModel]) -> list[str]:
    return [
        name
        for name, field in model.model_fields.items()
        if any(getattr(m, "func", None) is parse_duration for m in field.metadata)
    ]
