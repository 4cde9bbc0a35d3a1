"""Frozen records that cost nothing to define: `class Address(Frozen)` with annotated fields.

A frozen dataclass generates and compiles six methods when its class is created, ~0.45 ms each
class; a no-op plan created some forty of them before it read anything. A `Frozen` subclass is
typed as a frozen dataclass (`dataclass_transform`: a checked `__init__`, read-only fields) and
behaves as one: positional or keyword values, class-level defaults, equality, hash and repr by
field, `changed()` for `dataclasses.replace`. Not supported, so such records stay dataclasses:
default factories, `__post_init__`, field options (repr=False...), inheritance between records.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypeVar, dataclass_transform


@dataclass_transform(frozen_default=True)
class Frozen:
    """The fields are the class's annotations in order; a default is the class attribute of that name."""

    _fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls) -> None:
        cls._fields = tuple(cls.__dict__.get("__annotations__", {}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__} takes {len(fields)} values, {len(args)} given")
        values = dict(zip(fields, args, strict=False))  # the rest by name or default
        for name, value in kwargs.items():
            if name not in fields or name in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated {name!r}")
            values[name] = value
        defaults = vars(type(self))
        for name in fields:
            if name in values:
                object.__setattr__(self, name, values[name])
            elif name in defaults:
                object.__setattr__(self, name, defaults[name])
            else:
                raise TypeError(f"{type(self).__name__}: {name!r} is missing")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash(tuple(vars(self).values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"


FrozenT = TypeVar("FrozenT", bound=Frozen)


def changed(record: FrozenT, **changes: Any) -> FrozenT:
    """A copy of `record` with `changes` (what `dataclasses.replace` does for a dataclass)."""
    return type(record)(**{**vars(record), **changes})
