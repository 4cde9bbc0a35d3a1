"""The record's trust rules without an engine: the sealed labels of a generation volume, what a
listing of the record's volumes is read as (runtime.record.Book), and the names it accepts.

A generation is read only when its volume's name is exactly `hostform.record.<stack>.<6 digits>`,
its labels agree with the name, its seal (HMAC-SHA256 under the stack's key) holds and its JSON
says the same stack and number; anything else is foreign. tests/integration/test_record_store.py
forges volumes with the engine's own CLI.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from hostform.declare import names
from hostform.runtime import seal
from hostform.runtime.record import Book
from tests.unit.test_record import GEN

KEY = bytes(range(16))
OTHER_KEY = bytes(range(1, 17))


def volume(name: str, labels: dict[str, str]) -> dict[str, Any]:
    return {"Name": name, "Labels": labels, "Driver": "local"}


def sealed(number: int, key: bytes = KEY, **changes: Any) -> dict[str, Any]:
    g = replace(GEN, number=number, **changes)
    return volume(names.record_name(g.stack, number), seal.sealed_labels(g, key))


def test_sealed_labels_round_trip() -> None:
    v = sealed(3)
    found = seal.unseal("blog", v["Name"], v["Labels"], KEY)
    assert found == replace(GEN, number=3)
    assert names.LABEL_STACK not in v["Labels"]  # never listed as the stack's objects


def test_the_seal_covers_the_content() -> None:
    v = sealed(3)
    doc = json.loads(v["Labels"][names.LABEL_RECORD_DATA])
    doc["adopted"] = {"containers.zzz": {"id": "prod-db-id", "spec": {}}}
    forged = {**v["Labels"], names.LABEL_RECORD_DATA: json.dumps(doc)}
    assert seal.unseal("blog", v["Name"], forged, KEY) is None


def test_another_key_does_not_open_it() -> None:
    v = sealed(3)
    assert seal.unseal("blog", v["Name"], v["Labels"], OTHER_KEY) is None
    assert seal.unseal("blog", v["Name"], v["Labels"], None) is None


def test_a_copy_under_another_number_or_stack_is_not_read() -> None:
    v = sealed(3)
    labels = {**v["Labels"], names.LABEL_GENERATION: "000007"}
    assert seal.unseal("blog", names.record_name("blog", 7), labels, KEY) is None
    other = {**v["Labels"], names.LABEL_RECORD: "shop"}
    assert seal.unseal("shop", names.record_name("shop", 3), other, KEY) is None


def test_the_json_must_agree_with_the_name() -> None:
    """Sealed by someone holding the key, yet a generation 3 under the name of 4: not read."""
    g = replace(GEN, number=3)
    name = names.record_name("blog", 4)
    data = g.to_json()
    labels = {
        names.LABEL_RECORD: "blog",
        names.LABEL_GENERATION: "000004",
        names.LABEL_RECORD_DATA: data,
        names.LABEL_RECORD_MAC: seal.mac(KEY, name, data),
    }
    assert seal.holds("blog", name, labels, KEY) == 4
    assert seal.unseal("blog", name, labels, KEY) is None


@pytest.mark.parametrize(
    "name",
    [
        "hostform.record.blog.1",
        "hostform.record.blog.0000001",
        "hostform.record.blog.000000",
        "hostform.record.blog.99999999999999999999",
        "hostform.record.blog.00001x",
        "hostform.record.blog.٠٠٠٠٠١",  # digits, but not ASCII ones
        "hostform.record.blog.000001.x",
        "hostform.record.blog-x.000001",
        "xhostform.record.blog.000001",
    ],
)
def test_only_the_exact_name_with_six_digits_is_a_generation(name: str) -> None:
    assert names.record_number("blog", name) is None


def test_record_numbers() -> None:
    assert names.record_number("blog", "hostform.record.blog.000001") == 1
    assert names.record_number("blog", "hostform.record.blog.999999") == 999_999
    assert names.record_number("my-blog", "hostform.record.my-blog.000042") == 42


def book(*volumes: dict[str, Any], network_key: bytes | None = KEY) -> Book:
    return Book("blog", volumes, network_key)


def test_a_book_reads_sealed_generations_newest_first() -> None:
    b = book(sealed(1), sealed(3), sealed(2))
    assert [h.number for h in b.heads()] == [3, 2, 1]
    newest = b.newest()
    assert newest is not None and newest.number == 3
    assert b.foreign == ()


def test_forged_generations_are_foreign_and_never_set_the_number() -> None:
    junk = volume(
        "hostform.record.blog.99999999999999999999",
        {names.LABEL_RECORD: "blog", names.LABEL_GENERATION: "99999999999999999999", names.LABEL_RECORD_DATA: "{}"},
    )
    unsealed = volume(names.record_name("blog", 9), {**sealed(9)["Labels"], names.LABEL_RECORD_MAC: "0" * 64})
    b = book(sealed(2), junk, unsealed)
    assert [h.number for h in b.heads()] == [2]
    assert set(b.foreign) == {junk["Name"], unsealed["Name"]}
    assert b.taken == {2, 9}  # a foreign volume's name is skipped when numbering, never more than 6 digits


def test_the_key_volume_keeps_the_key_when_the_network_is_gone() -> None:
    kept = volume(names.key_name("blog"), seal.key_labels("blog", KEY))
    b = book(sealed(1), kept, network_key=None)
    assert b.key == KEY and b.newest() is not None


def test_a_key_volume_that_disagrees_with_the_network_is_foreign() -> None:
    forged_key = volume(names.key_name("blog"), seal.key_labels("blog", OTHER_KEY))
    forged_gen = sealed(5, key=OTHER_KEY)
    b = book(sealed(1), forged_key, forged_gen)
    assert b.key == KEY
    assert [h.number for h in b.heads()] == [1]
    assert set(b.foreign) == {names.key_name("blog"), forged_gen["Name"]}


def test_without_any_key_nothing_is_read() -> None:
    b = book(sealed(1), network_key=None)
    assert b.heads() == [] and b.newest() is None and b.foreign == (names.record_name("blog", 1),)


def test_the_lock_comes_with_the_listing() -> None:
    lock = volume(names.lock_name("blog"), {names.LABEL_LOCK: "blog", names.LABEL_RECORD: "blog"})
    assert book(lock).lock == lock["Labels"]
    other = volume(names.lock_name("blog"), {names.LABEL_RECORD: "blog"})  # not a lock's labels
    assert book(other).lock is None and book(other).foreign == (names.lock_name("blog"),)


@pytest.mark.parametrize("raw", ["", "zz", "00" * 8, "00" * 32])
def test_a_key_volume_with_a_malformed_key_is_not_a_key(raw: str) -> None:
    labels = {**seal.key_labels("blog", KEY), names.LABEL_KEY: raw}
    assert seal.key_of("blog", names.key_name("blog"), labels) is None


def test_completed_jobs_round_trip() -> None:
    g = replace(GEN, completed={"jobs.migrate": "0123456789abcdef"})
    found = seal.unseal("blog", names.record_name("blog", 1), seal.sealed_labels(g, KEY), KEY)
    assert found is not None and found.completed == {"jobs.migrate": "0123456789abcdef"}
