"""A saved plan file's shape, checked before anything is built from it.

A plan file may come from anywhere (`show --untrusted` renders one from a pull
request), so its text is measured before it is parsed (size, nesting: 100,000 `[`
must not reach the parser's recursion) and its parsed document is checked against
the shape `plans.planfile.encode` writes, naming the first field that is wrong
(`changes must be a list`), before the decoder reads a single field.
"""

from __future__ import annotations

import re
from itertools import accumulate
from typing import Any

MAX_PLAN_BYTES = 64 << 20  # a plan file of any origin: far beyond a 1,000-container plan
MAX_NESTING = 64  # arrays and objects within each other: a plan's values nest a few levels
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class ShapeError(Exception):
    """What is wrong, as `changes[0].reasons must be a list`."""


def check_text(text: str) -> None:
    """Size and nesting of a plan file's JSON text, before it is parsed."""
    if len(text) > MAX_PLAN_BYTES:
        raise ShapeError(f"larger than {MAX_PLAN_BYTES} bytes")
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if len(brackets) > MAX_NESTING and max(accumulate(1 if b in "[{" else -1 for b in brackets)) > MAX_NESTING:
        raise ShapeError(f"nested more than {MAX_NESTING} levels deep")


# A shape: a type (the value must be one), a one-element list (a list of that shape), a dict
# of field -> shape (an object with at least those fields), ANY, or a tuple of alternatives.
ANY = object()
_REASON = {"kind": str, "path": str, "before": ANY, "after": ANY, "text": str, "outside": bool, "diff": str}
_CHANGE = {
    "address": str,
    "kind": str,
    "name": str,
    "engine_name": str,
    "action": str,
    "order": (str, type(None)),
    "attributes": [[str]],
    "risks": [str],
    "replica": int,
    "current_id": (str, type(None)),
    "reasons": [_REASON],
}
PLAN = {
    "request": {"stack_path": str, "var": [str], "var_file": [str], "replace": [str], "target": [str]},
    "plan": {
        "stack": str,
        "mode": str,
        "fingerprint": str,
        "conflicts": [str],
        "warnings": [str],
        "live": {str: str},
        "key_known": bool,
        "changes": [_CHANGE],
    },
    "desired": (str, type(None)),
}
_NAMES = {str: "a string", int: "a whole number", bool: "true or false", type(None): "null"}


def check_shape(value: Any, shape: Any = PLAN, path: str = "") -> None:
    """Raise ShapeError naming the first field of `value` that does not have `shape`."""
    if shape is ANY:
        return
    if isinstance(shape, list):
        _check_list(value, shape[0], path)
    elif isinstance(shape, dict) and set(shape) == {str}:
        _check_map(value, shape[str], path)
    elif isinstance(shape, dict):
        _check_object(value, shape, path)
    else:
        _check_scalar(value, shape if isinstance(shape, tuple) else (shape,), path)


def _check_list(value: Any, item: Any, path: str) -> None:
    if not isinstance(value, list):
        raise ShapeError(f"{path or 'the document'} must be a list")
    for i, element in enumerate(value):
        check_shape(element, item, f"{path}[{i}]")


def _check_map(value: Any, item: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise ShapeError(f"{path} must be an object")
    for key, element in value.items():
        check_shape(element, item, f"{path}.{key}")


def _check_object(value: Any, fields: dict[str, Any], path: str) -> None:
    if not isinstance(value, dict):
        raise ShapeError(f"{path or 'the document'} must be an object")
    missing = [name for name in fields if name not in value]
    if missing:  # what this level lacks before what a level below does
        raise ShapeError(f"{f'{path}.' if path else ''}{missing[0]} is missing")
    for name, shape in fields.items():
        check_shape(value[name], shape, f"{path}.{name}" if path else name)


def _check_scalar(value: Any, types: tuple[type, ...], path: str) -> None:
    # bool is an int to Python, not to a plan file
    ok = any(type(value) is t or (t is int and type(value) is int) for t in types)
    if not ok:
        raise ShapeError(f"{path} must be {' or '.join(_NAMES.get(t, t.__name__) for t in types)}")
