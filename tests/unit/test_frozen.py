"""declare.frozen: records that behave as frozen dataclasses without generating their methods."""

from __future__ import annotations

import copy
import pickle

import pytest

from hostform.declare.frozen import Frozen, changed


class Point(Frozen):
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()


class Other(Frozen):
    x: int
    y: int = 0


def test_values_by_position_by_name_and_by_default() -> None:
    assert vars(Point(1, 2)) == {"x": 1, "y": 2, "tags": ()}
    assert vars(Point(1, tags=("a",))) == {"x": 1, "y": 0, "tags": ("a",)}
    assert repr(Point(1)) == "Point(x=1, y=0, tags=())"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [((), {}, "'x' is missing"), ((1, 2, (), 4), {}, "takes 3 values, 4 given"), ((1,), {"x": 2}, "repeated 'x'")],
)
def test_a_wrong_call_is_a_type_error(args: tuple[object, ...], kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Point(*args, **kwargs)


def test_frozen_equal_and_hashed_by_value_within_one_class() -> None:
    p = Point(1, 2)
    with pytest.raises(AttributeError, match="frozen"):
        p.x = 3  # type: ignore[misc]
    with pytest.raises(AttributeError, match="frozen"):
        del p.y  # type: ignore[misc]
    assert p == Point(1, 2) and hash(p) == hash(Point(1, 2)) and p != Point(1, 3)
    assert p != Other(1, 2)  # as dataclasses: another class is never equal
    assert {p: "found"}[Point(1, 2)] == "found"


def test_changed_copies_with_new_values_and_checks_names() -> None:
    p = Point(1, 2)
    assert changed(p, y=5) == Point(1, 5) and p == Point(1, 2)
    with pytest.raises(TypeError, match="unexpected or repeated 'z'"):
        changed(p, z=1)


def test_copies_and_pickles_stay_equal() -> None:
    p = Point(1, 2, ("a",))
    assert copy.copy(p) == p and copy.deepcopy(p) == p and pickle.loads(pickle.dumps(p)) == p
