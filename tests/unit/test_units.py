"""Durations and sizes as users write them."""

from __future__ import annotations

import pytest

from hostform.declare.units import format_duration, format_size, parse_duration, parse_size

S = 10**9


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("10s", 10 * S),
        ("1m30s", 90 * S),
        ("90s", 90 * S),
        ("500ms", S // 2),
        ("1h", 3600 * S),
        ("1h2m3s", 3723 * S),
        ("1.5s", 3 * S // 2),
        ("250us", 250_000),
        ("7ns", 7),
        (" 5s ", 5 * S),
        (10, 10 * S),  # bare numbers are seconds, as in Compose
        (0, 0),
        (2.5, 5 * S // 2),
        ("10", 10 * S),  # what "{{ vars.grace }}" renders to
        ("2.5", 5 * S // 2),
    ],
)
def test_durations(text: str | int | float, ns: int) -> None:
    assert parse_duration(text) == ns


def test_spellings_of_one_duration_are_equal() -> None:
    assert parse_duration("1m30s") == parse_duration("90s") == parse_duration(90)


@pytest.mark.parametrize("text", ["", "5 seconds", "1x", "m", "s10", "10s junk", "-5s", "1m 30s"])
def test_bad_duration_strings(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


@pytest.mark.parametrize("value", [-1, -0.5, True, False])
def test_bad_duration_numbers(value: int | float | bool) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(value)


@pytest.mark.parametrize("ns", [0, S, 90 * S, 3723 * S, S // 2, 1, 3600 * S + 5 * 10**6])
def test_format_duration_round_trips(ns: int) -> None:
    assert parse_duration(format_duration(ns)) == ns


def test_format_duration_reads_well() -> None:
    assert format_duration(90 * S) == "1m30s"
    assert format_duration(S // 2) == "500ms"
    assert format_duration(0) == "0s"


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("512m", 512 * 1024**2),
        ("1g", 1024**3),
        ("1G", 1024**3),
        ("1gb", 1024**3),
        ("1GiB", 1024**3),
        ("64k", 64 * 1024),
        ("2t", 2 * 1024**4),
        ("1.5g", 1536 * 1024**2),
        ("100", 100),
        ("100b", 100),
        (" 512 m", 512 * 1024**2),
        (4096, 4096),  # bare numbers are bytes
        (0, 0),
    ],
)
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("value", ["", "lots", "1q", "m", "-1m", "1 g b x", -1, True])
def test_bad_sizes(value: str | int | bool) -> None:
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(value)


@pytest.mark.parametrize("size", [1, 1023, 1024, 512 * 1024**2, 1024**3, 3 * 1024**4, 1536 * 1024**2])
def test_format_size_round_trips(size: int) -> None:
    assert parse_size(format_size(size)) == size


def test_format_size_reads_well() -> None:
    assert format_size(512 * 1024**2) == "512m"
    assert format_size(1024**3) == "1g"
    assert format_size(1000) == "1000"


@pytest.mark.parametrize("value", [float("inf"), 1.8e299, "99999999999999999999999s", "9" * 400 + "s", "9" * 30, 2**63])
def test_durations_the_engine_cannot_hold(value: str | float) -> None:
    with pytest.raises(ValueError, match=r"is not a duration \(too large\)"):
        parse_duration(value)


def test_nan_is_not_a_duration() -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(float("nan"))


@pytest.mark.parametrize("value", ["9" * 400 + "g", 2**63, "8589934592g"])
def test_sizes_the_engine_cannot_hold(value: str | int) -> None:
    with pytest.raises(ValueError, match=r"is not a size \(too large\)"):
        parse_size(value)
