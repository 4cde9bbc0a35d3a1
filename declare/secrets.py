"""Secret values: a str-like type that masks itself in every printable form."""

from __future__ import annotations

import hashlib
import hmac
import os
from typing import Any

from pydantic_core import core_schema

MASK = "(secret)"


class Secret:
    """A value that must never be printed, logged, stored in a label or a plan file.

    `str()`, `repr()`, f-strings and JSON all show `(secret)`; `reveal()` gives the
    value to the one place that needs it (the container's environment or file).
    """

    __slots__ = ("_value", "names")

    def __init__(self, value: str, names: tuple[str, ...] = ()) -> None:
        self._value = value
        self.names = names  # which secret() calls went into this value

    def reveal(self) -> str:
        return self._value

    def digest(self, key: bytes) -> str:
        """Keyed hash, so a rotated secret changes the spec without exposing it."""
        mac = hmac.new(key, self._value.encode(), hashlib.sha256).hexdigest()
        return f"hmac-sha256:{mac[:32]}"

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"Secret({MASK})"

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("secret", self._value))

    def __reduce__(self) -> Any:
        raise TypeError("a Secret cannot be pickled")

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda v: MASK),
            json_schema_input_schema=core_schema.str_schema(),
        )

    @classmethod
    def _validate(cls, value: Any) -> Secret:
        if isinstance(value, Secret):
            return value
        raise ValueError("expected a secret")


def read_secret(name: str, environ: dict[str, str] | None = None) -> str | None:
    """NAME from the environment, or the contents of the file NAME_FILE points at."""
    env = os.environ if environ is None else environ
    if name in env:
        return env[name]
    path = env.get(f"{name}_FILE")
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read().rstrip("\n")
        except (OSError, ValueError):  # ValueError: not UTF-8, or a NUL in the path
            return None
    return None


def reveal(value: str | Secret) -> str:
    return value.reveal() if isinstance(value, Secret) else value
