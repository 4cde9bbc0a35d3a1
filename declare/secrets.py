"""Secret values: a str-like type that masks itself in every printable form."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    from pydantic_core import core_schema

MASK = "(secret)"


SECRET_WORDS = ("PASSWORD", "PASSWD", "TOKEN", "KEY", "SECRET")


def is_secret_name(name: str) -> bool:
    """PASSWORD, TOKEN, KEY, SECRET in a name say its value is secret."""
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


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
        from pydantic_core import core_schema

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


_READ: set[str] = set()  # every secret value read in this process, so error messages can be masked


WITHHELD = "(message withheld: it holds text equal to a secret's value)"
MIN_MASKED = 8  # a secret shorter than this, found in a message, withholds the message


def mask_secrets(text: str) -> str:
    """`text` with every secret value read so far masked: the last line of defence for messages
    hostform does not write itself (the engine's errors quote what it was sent).

    Only whole values are masked: a value of at least MIN_MASKED characters standing alone
    (`PW=hunter2hunter2`, `"hunter2hunter2"`). A value found inside other text (a secret `x`
    in `build context`), or a short one, would be told by where a mark stands, so the text
    is withheld instead of marked."""
    for value in sorted(_READ, key=len, reverse=True):
        if value not in text:
            continue
        if len(value) < MIN_MASKED or not _stands_alone(text, value):
            return WITHHELD
        text = text.replace(value, MASK)
    return text


def holds_secret(text: str) -> bool:
    """Whether `text` holds the value of a secret read so far, anywhere in it."""
    return any(value in text for value in _READ)


def _stands_alone(text: str, value: str) -> bool:
    """Every occurrence of `value` in `text` is bounded by something that is not a letter or digit."""
    start = text.find(value)
    while start != -1:
        end = start + len(value)
        if (start > 0 and text[start - 1].isalnum()) or (end < len(text) and text[end].isalnum()):
            return False
        start = text.find(value, end)
    return True


def _remember(value: str | None) -> str | None:
    if value:
        _READ.add(value)
    return value


def remember(value: str) -> str:
    """A value just read from any source, so that error messages mask it (mask_secrets)."""
    if value:
        _READ.add(value)
    return value


class UnknownSecret(Secret):
    """A secret that is not set where hostform runs (drift without the secrets): it stands for
    whatever was applied. Its digest is UNKNOWN, which the planner replaces by the last-applied
    one; it is never applied (the commands that apply load with every secret set)."""

    __slots__ = ()

    def digest(self, key: bytes) -> str:
        return UNKNOWN


UNKNOWN = "unknown"


class SecretUnreadable(Exception):
    """A secret is set in a way that cannot be used; the message never holds its value."""


def read_secret(name: str, environ: dict[str, str] | None = None) -> str | None:
    """NAME from the environment, or the contents of the file NAME_FILE points at; None when
    neither is set. Both set, or a NAME_FILE that cannot be read, is a SecretUnreadable."""
    env = os.environ if environ is None else environ
    path = env.get(f"{name}_FILE")
    if name in env and path:
        raise SecretUnreadable(f"secret {name!r}: both {name} and {name}_FILE are set (set only one)")
    if name in env:
        return _remember(env[name])
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as fh:
            return _remember(fh.read().rstrip("\n"))
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
    except UnicodeDecodeError:
        why = "not UTF-8 text"  # the decoder's own message would quote a byte of the secret
    except ValueError:
        why = "the path holds a NUL character"
    shown = path if path.isprintable() else json.dumps(path)
    raise SecretUnreadable(f"secret {name!r}: {name}_FILE={shown} cannot be read: {why}")


class FileBytes(bytes):
    """A `source` config file's exact bytes (binary, or text with any line endings).

    `encode()` gives the same bytes back, so `reveal(content).encode()` is what goes into the
    container for every kind of file content: text, a secret, or a source file's bytes.
    """

    __slots__ = ()

    def encode(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return bytes(self)


@overload
def reveal(value: str | Secret) -> str: ...
@overload
def reveal(value: FileBytes) -> FileBytes: ...
@overload
def reveal(value: str | FileBytes | Secret) -> str | FileBytes: ...
def reveal(value: str | FileBytes | Secret) -> str | FileBytes:
    return value.reveal() if isinstance(value, Secret) else value
