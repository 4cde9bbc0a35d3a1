"""Line numbers for key paths: tomllib reports them only for syntax errors."""

from __future__ import annotations

import json
import re

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_PART = r"""(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')"""
_KEY = re.compile(rf"^\s*({_PART}(?:\s*\.\s*{_PART})*)\s*=")


def _split_dotted(text: str) -> tuple[str, ...]:
    parts = re.findall(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_-]+)", text)
    return tuple(a or b or c for a, b, c in parts)


class LineIndex:
    """Maps a key path (tuple) to the line that declares it, or its nearest declared parent."""

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                table = _split_dotted(header.group(1))
                self._lines.setdefault(table, number)
                continue
            key = _KEY.match(line)
            if key:
                self._lines.setdefault(table + _split_dotted(key.group(1)), number)

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        keys = tuple(str(p) for p in path if not isinstance(p, int))
        while keys:
            if keys in self._lines:
                return self._lines[keys]
            # `[contaners.web]` declares only its children: take the first of them
            below = [n for k, n in self._lines.items() if k[: len(keys)] == keys]
            if below:
                return min(below)
            keys = keys[:-1]
        return None


def format_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            text = _key_text(str(part))
            out += f".{text}" if out else text
    return out


def _key_text(key: str) -> str:
    """Keys with control characters are quoted, so a message stays on one line."""
    return key if key.isprintable() else json.dumps(key)
