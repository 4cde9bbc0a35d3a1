"""Durations and sizes as users write them, parsed into explicit units."""

from __future__ import annotations

import re

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|ms|h|m|s)")
_DURATION_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_SIZE = re.compile(r"^(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)?$", re.IGNORECASE)
_SIZE_FACTOR = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_INT64_MAX = 2**63 - 1  # the engine keeps durations (ns) and sizes (bytes) as int64


def _scaled(amount: float, factor: int, value: object, what: str) -> int:
    """amount * factor as an int, refusing NaN and what the engine cannot hold."""
    if amount != amount:  # NaN
        raise ValueError(f"{value!r} is not a {what}")
    if amount * factor > _INT64_MAX:
        raise ValueError(f"{value!r} is not a {what} (too large)")
    return int(amount * factor)


def parse_duration(value: str | int | float) -> int:
    """'1m30s' -> nanoseconds. Bare numbers are seconds, as in Compose."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration (expected e.g. '10s', '1m30s')")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is not a duration: negative")
        return _scaled(value, 10**9, value, "duration")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration (expected e.g. '10s', '1m30s')")
    text = value.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", text):  # a rendered template like "{{ vars.grace }}"
        return parse_duration(float(text) if "." in text else int(text))
    pos, total = 0, 0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += _scaled(float(match.group(1)), _DURATION_NS[match.group(2)], value, "duration")
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"{value!r} is not a duration (expected e.g. '10s', '1m30s', '500ms')")
    return _scaled(total, 1, value, "duration")


def format_duration(ns: int) -> str:
    if ns == 0:
        return "0s"
    parts = []
    for unit in ("h", "m", "s", "ms", "us", "ns"):
        size = _DURATION_NS[unit]
        if ns >= size:
            parts.append(f"{ns // size}{unit}")
            ns %= size
    return "".join(parts)


def parse_size(value: str | int) -> int:
    """'512m' -> bytes. Bare numbers are bytes."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size (expected e.g. '512m', '1g')")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value!r} is not a size: negative")
        return _scaled(value, 1, value, "size")
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a size (expected e.g. '512m', '1g')")
    match = _SIZE.match(value.strip())
    if not match:
        raise ValueError(f"{value!r} is not a size (expected e.g. '512m', '1g', '64k')")
    return _scaled(float(match.group(1)), _SIZE_FACTOR[match.group(2).lower()], value, "size")


def format_size(n: int) -> str:
    for unit in ("t", "g", "m", "k"):
        if n and n % _SIZE_FACTOR[unit] == 0:
            return f"{n // _SIZE_FACTOR[unit]}{unit}"
    return str(n)
