"""The JSON Schema of the stack format, for editors (taplo / Even Better TOML) and checks."""

from __future__ import annotations

from typing import Any

from declare.schema import Stack


def stack_json_schema() -> dict[str, Any]:
    schema = Stack.model_json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "hostform stack"
    # `[volumes.data]` with no keys parses as an empty table: already an object, fine.
    return schema
