"""docs/stack-format.md names every key of the stack format, in the section of its table.

Each section of the page carries a marker, `<!-- schema: ContainerSpec JobSpec -->`, naming the
JSON Schema definitions (`hostform schema`'s `$defs`) it documents; every property of each of
those definitions must appear in that section as `` `key` ``. A new table in the schema needs a
section with its marker; a new key, a line in its section.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from hostform.declare.jsonschema import stack_json_schema

DOC = Path(__file__).resolve().parents[2] / "docs" / "stack-format.md"
MARK = re.compile(r"^<!-- schema: ([\w ]+) -->$", re.M)


def sections() -> dict[str, str]:
    """Definition name -> the text of the section that documents it."""
    text = DOC.read_text(encoding="utf-8")
    found: dict[str, str] = {}
    marks = list(MARK.finditer(text))
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        for name in mark.group(1).split():
            found[name] = text[mark.end() : end]
    return found


def schema() -> dict[str, Any]:
    return stack_json_schema()


def test_every_table_of_the_schema_has_a_section() -> None:
    documented = sections()
    missing = [name for name, d in schema()["$defs"].items() if d.get("properties") and name not in documented]
    assert not missing, f"docs/stack-format.md has no section marked for: {missing}"


def test_every_top_level_table_is_a_section() -> None:
    text = DOC.read_text(encoding="utf-8")
    for key in schema()["properties"]:
        assert re.search(rf"^## `\[{key}(\.NAME)?\]`", text, re.M) or f"`[{key}.NAME]`" in text, key


@pytest.mark.parametrize("name", sorted(n for n, d in stack_json_schema()["$defs"].items() if d.get("properties")))
def test_every_key_is_in_its_section(name: str) -> None:
    section = sections().get(name, "")
    keys = schema()["$defs"][name]["properties"]
    missing = [key for key in keys if f"`{key}`" not in section]
    assert not missing, f"docs/stack-format.md, section of {name}: no line for {missing}"
