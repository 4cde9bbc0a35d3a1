"""One address type: Address(kind, name, replica), parsed and formatted the one way plans show it."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hostform.declare.names import Address, Condition, Kind


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("containers.web", Address(Kind.CONTAINER, "web")),
        ("containers.worker[2]", Address(Kind.CONTAINER, "worker", 2)),
        ("jobs.migrate", Address(Kind.JOB, "migrate")),
        ("networks.back", Address(Kind.NETWORK, "back")),
        ("volumes.db_data", Address(Kind.VOLUME, "db_data")),
        ("images.registry.test:5000/blog/web", Address(Kind.IMAGE, "registry.test:5000/blog/web")),
        ("files.nginx_conf", Address(Kind.CONFIG, "nginx_conf")),  # a Swarm config (or secret)
    ],
)
def test_parse_and_format(text: str, address: Address) -> None:
    assert Address.parse(text) == address
    assert str(address) == address.format() == text


def test_the_replica_shows_when_there_are_several() -> None:
    assert str(Address.of("container", "web", 1, 1)) == "containers.web"
    assert str(Address.of("container", "web", 1, 3)) == "containers.web[1]"
    assert str(Address.of(Kind.JOB, "once", 2)) == "jobs.once[2]"  # a leftover beyond replicas


@pytest.mark.parametrize(
    "text", ["web", "container.web", "containers.", "containers.web[0]", "containers.web[x]", "containers.web[2", "x.y"]
)
def test_what_is_not_an_address_is_refused_naming_the_forms(text: str) -> None:
    with pytest.raises(ValueError, match=r"not an address \(containers\.NAME, containers\.NAME\[i\]"):
        Address.parse(text)


names = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,20}", fullmatch=True)


@given(st.sampled_from([k for k in Kind if k is not Kind.SECRET]), names, st.one_of(st.none(), st.integers(1, 99)))
def test_every_address_round_trips(kind: Kind, name: str, replica: int | None) -> None:
    address = Address(kind, name, replica)
    assert Address.parse(str(address)) == address


def test_kinds_and_conditions_are_their_words() -> None:
    assert [k.table for k in Kind] == ["containers", "jobs", "networks", "volumes", "images", "files", "files"]
    assert {k for k in Kind if k.is_service} == {Kind.CONTAINER, Kind.JOB}
    assert Kind("job") is Kind.JOB and Kind.JOB == "job"
    assert [c.value for c in Condition] == ["started", "healthy", "completed", "ready"]
