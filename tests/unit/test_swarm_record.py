"""The Swarm store's pure pieces: a generation as a config's data (gzip above the limit, refused
when it still does not fit) and the generations in a config listing. tests/swarm/test_swarm_record.py
runs the store against a real manager."""

from __future__ import annotations

import gzip
import os
from dataclasses import replace

import pytest

from hostform.declare import names
from hostform.declare.errors import HostformError
from hostform.runtime.record import RecordedResource
from hostform.runtime.swarm_record import DATA_LIMIT, decode, encode, heads_of_configs
from tests.unit.test_record import GEN


def test_a_generation_is_its_json_as_is() -> None:
    data = encode(GEN)
    assert data == GEN.to_json().encode()
    assert decode("blog", 1, data) == GEN


def test_a_large_generation_is_compressed_and_read_back() -> None:
    resources = tuple(
        RecordedResource(f"containers.s{i}", "container", f"blog_s{i}", os.urandom(8).hex()) for i in range(8000)
    )
    big = replace(GEN, resources=resources)
    assert len(big.to_json()) > DATA_LIMIT
    data = encode(big)
    assert len(data) <= DATA_LIMIT and data[:2] == b"\x1f\x8b"
    assert decode("blog", 1, data) == big


def test_a_generation_too_large_even_compressed_is_refused_clearly() -> None:
    noise = {f"k{i}": os.urandom(32).hex() for i in range(20000)}  # random: gzip cannot shrink it enough
    huge = replace(GEN, adopted={"containers.web": noise})
    with pytest.raises(HostformError, match="more than a Swarm config holds"):
        encode(huge)


@pytest.mark.parametrize(
    ("stack", "number", "data"),
    [
        ("other", 1, GEN.to_json().encode()),  # another stack's
        ("blog", 2, GEN.to_json().encode()),  # a number its name does not carry
        ("blog", 1, b"{not json"),
        ("blog", 1, gzip.compress(b"\xff\xfe")),
        ("blog", 1, b"\x1f\x8b truncated"),
    ],
)
def test_what_is_not_a_readable_generation_is_none(stack: str, number: int, data: bytes) -> None:
    assert decode(stack, number, data) is None


def test_heads_from_a_config_listing_take_only_the_stacks_generations() -> None:
    def config(ident: str, labels: dict[str, str]) -> dict[str, object]:
        name = f"hostform.record.{labels.get(names.LABEL_RECORD)}.{labels.get(names.LABEL_GENERATION, '').zfill(6)}"
        return {"ID": ident, "Spec": {"Name": name if names.LABEL_RECORD in labels else ident, "Labels": labels}}

    def record(stack: str, number: str) -> dict[str, str]:
        return {
            names.LABEL_STACK: stack,
            names.LABEL_KIND: names.KIND_RECORD,
            names.LABEL_RECORD: stack,
            names.LABEL_GENERATION: number,
        }

    listed = [
        config("a", record("blog", "1")),
        config("b", record("blog", "3")),
        config("c", record("shop", "2")),
        config("d", record("blog", "x")),
        config("e", {names.LABEL_STACK: "blog", names.LABEL_KIND: "config"}),  # a file of the stack
        config("f", record("blog", "99999999999999999999")),  # no generation: more than six digits
        {"ID": "g", "Spec": {"Name": "copied", "Labels": record("blog", "7")}},  # not the record's name
    ]
    assert [(h.number, h.ident) for h in heads_of_configs("blog", listed)] == [(3, "b"), (1, "a")]


def test_a_generation_in_the_config_listing_is_read_from_its_data_without_an_engine_call() -> None:
    import base64
    from typing import Any

    from hostform.runtime.record import newest
    from hostform.runtime.swarm_record import ConfigRecordStore

    class NoEngine:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"engine.{name} used: the listing had the data")

    labels = {names.LABEL_KIND: names.KIND_RECORD, names.LABEL_RECORD: "blog", names.LABEL_GENERATION: "1"}
    data = base64.b64encode(encode(GEN)).decode()
    spec = {"Name": "hostform.record.blog.000001", "Labels": labels, "Data": data}
    listed: list[dict[str, Any]] = [{"ID": "c1", "Spec": spec}]
    engine: Any = NoEngine()
    assert newest(ConfigRecordStore(engine, "blog", listed), heads_of_configs("blog", listed)) == GEN
