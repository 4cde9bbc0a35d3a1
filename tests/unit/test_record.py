"""The record's pieces without an engine: its JSON, its order of writing, its bound, its names.

An in-memory store stands in for the engine only to check the order of calls;
tests/integration/test_record.py runs the same code against the real engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

import pytest

from hostform.declare import names
from hostform.declare.errors import ConflictError
from hostform.runtime.record import (
    HISTORY_LIMIT,
    Generation,
    GenerationHead,
    RecordedResource,
    commit,
    heads_of,
    newest,
)

GEN = Generation(
    stack="blog",
    number=1,
    operation="apply",
    at="2026-01-30T12:00:00Z",
    by="ops@build",
    version="0.1.0",
    commit="abc+dirty",
    declaration="d" * 64,
    summary={"outcome": "complete", "done": {"add": 1}},
    resources=(RecordedResource("containers.web", "container", "blog-web", "0123456789abcdef"),),
    known={"blog-web": 1},
    adopted={"containers.web": {"id": "c0ffee", "spec": {"image": "nginx:1"}}},
    key="00" * 16,
)


@dataclass
class MemoryStore:
    """Generations in a dict; `log` is every call in order."""

    kept: dict[int, str] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def heads(self) -> list[GenerationHead]:
        return [GenerationHead(n, str(n)) for n in sorted(self.kept, reverse=True)]

    def load(self, head: GenerationHead) -> Generation | None:
        text = self.kept.get(head.number)
        return Generation.from_json(text) if text is not None else None

    def write(self, generation: Generation) -> None:
        if generation.number in self.kept:
            raise ConflictError("taken")
        self.log.append(f"write {generation.number}")
        self.kept[generation.number] = generation.to_json()

    def remove(self, head: GenerationHead) -> None:
        self.log.append(f"remove {head.number}")
        del self.kept[head.number]


def test_json_round_trip() -> None:
    assert Generation.from_json(GEN.to_json()) == GEN


@pytest.mark.parametrize("text", ["", "{", "[]", '{"format": 2}', '{"format": 1, "stack": "x"}'])
def test_an_unreadable_generation_is_none(text: str) -> None:
    assert Generation.from_json(text) is None


def test_new_generation_written_before_the_oldest_is_removed() -> None:
    store = MemoryStore()
    for n in range(1, HISTORY_LIMIT + 3):
        commit(store, replace(GEN, number=n), store.heads())
    assert sorted(store.kept) == list(range(3, HISTORY_LIMIT + 3))
    assert store.log[-2:] == [f"write {HISTORY_LIMIT + 2}", "remove 2"]


def test_leftovers_of_a_killed_write_are_pruned_by_the_next() -> None:
    store = MemoryStore()
    for n in range(1, HISTORY_LIMIT + 3):  # 22 kept: writes killed before their removals
        store.write(replace(GEN, number=n))
    commit(store, replace(GEN, number=HISTORY_LIMIT + 3), store.heads())
    assert len(store.kept) == HISTORY_LIMIT and min(store.kept) == 4


def test_the_newest_readable_generation_wins() -> None:
    store = MemoryStore()
    store.write(replace(GEN, number=1))
    store.write(replace(GEN, number=2))
    store.kept[3] = "{not json"
    found = newest(store, store.heads())
    assert found is not None and found.number == 2


def test_heads_from_a_listing_take_only_the_stacks_generations() -> None:
    """An older hostform's container generations: exact name, six digits, labels that agree."""

    def listed(ident: str, name: str, **labels: str) -> dict[str, object]:
        return {"Id": ident, "Names": [f"/{name}"], "Labels": labels}

    record = {names.LABEL_KIND: names.KIND_RECORD, names.LABEL_RECORD: "blog"}
    listing = [
        listed("a", "hostform.record.blog.000002", **record, **{names.LABEL_GENERATION: "2"}),
        listed("b", "hostform.record.blog.000010", **record, **{names.LABEL_GENERATION: "10"}),
        listed(
            "c",
            "hostform.record.other.000011",
            **{**record, names.LABEL_RECORD: "other"},
            **{names.LABEL_GENERATION: "11"},
        ),
        listed("d", "blog-web", **{names.LABEL_KIND: "container", names.LABEL_STACK: "blog"}),
        listed("e", "hostform.record.blog.00000x", **record, **{names.LABEL_GENERATION: "x"}),
        listed("f", "anything", **record, **{names.LABEL_GENERATION: "12"}),  # not the record's name
        listed(
            "g",
            "hostform.record.blog.99999999999999999999",
            **record,
            **{names.LABEL_GENERATION: "99999999999999999999"},
        ),
        listed("h", "hostform.record.blog.000013", **record, **{names.LABEL_GENERATION: "14"}),  # disagree
    ]
    assert heads_of("blog", listing) == [GenerationHead(10, "b"), GenerationHead(2, "a")]


def test_finding_a_resource_by_address_or_engine_name() -> None:
    assert GEN.find("containers.web", "") is not None
    assert GEN.find("containers.web[1]", "blog-web") is not None
    assert GEN.find("containers.api", "blog-api") is None
    assert GEN.adopted_of("container") == [("containers.web", "blog-web", GEN.adopted["containers.web"])]
    assert GEN.adopted_of("volume") == []
    assert GEN.knows("blog-web") and not GEN.knows("blog-api")


STACK_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")  # declare.schema.StackMeta


@pytest.mark.parametrize("stack", ["blog", "my-blog", "a_b", "a-", "x"])
def test_no_declared_resource_can_take_a_record_name(stack: str) -> None:
    """A resource is `<stack>` + '-' or '_' + a name: no split of a record name has a valid stack."""
    name = names.record_name(stack, 7)
    for i, ch in enumerate(name):
        if ch in "-_":
            assert not STACK_NAME.match(name[:i]), name[:i]


def test_temporary_names() -> None:
    assert names.is_temporary(names.temp_name("blog-web", names.TEMP_NEW))
    assert names.is_temporary(names.temp_name("blog-web-2", names.TEMP_OLD))
    assert not names.is_temporary("blog-web-copy1")
    assert not names.is_temporary("blog-web")
