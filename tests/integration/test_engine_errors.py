"""Engine errors are sorted by docker-py's exception class and the HTTP status code: a missing
object is NotFound (and a lookup says None), a taken name ConflictError, a busy network 403 and
retried; an engine that does not answer is EngineUnreachable and never taken for a missing object."""

from __future__ import annotations

import uuid

import pytest

from hostform.declare.errors import ConflictError, EngineError, EngineUnreachable, NotFound
from hostform.runtime.engine import Engine
from tests.integration.conftest import BUSYBOX


def test_missing_objects_are_not_found_and_lookups_say_none(docker_api) -> None:  # type: ignore[no-untyped-def]
    engine = Engine()
    missing = f"hostform-no-such-{uuid.uuid4().hex[:8]}"
    assert engine.inspect_volume(missing) is None
    assert engine.inspect_container(missing) is None
    assert engine.image_id(f"hostform-test/{missing}:1") is None
    with pytest.raises(NotFound) as caught:
        engine.start(missing)
    assert caught.value.status == 404


def test_a_taken_name_is_a_conflict(docker_api) -> None:  # type: ignore[no-untyped-def]
    engine = Engine()
    name = f"hft-errors-{uuid.uuid4().hex[:8]}"
    body = {"Image": BUSYBOX, "Cmd": ["true"], "Labels": {"io.hostform.stack": name}}
    ident = engine.create_container(name, body)
    try:
        with pytest.raises(ConflictError) as caught:
            engine.create_container(name, body)
        assert caught.value.status == 409
    finally:
        engine.remove_container(ident)


def test_an_engine_that_does_not_answer_is_never_swallowed() -> None:
    engine = Engine("tcp://127.0.0.1:9", timeout=5)  # nothing listens there
    for lookup in (engine.inspect_volume, engine.inspect_container, engine.image_id, engine.list_volumes):
        with pytest.raises(EngineUnreachable, match="cannot reach the Docker engine"):
            lookup("anything")  # type: ignore[operator]
    with pytest.raises(EngineUnreachable):
        engine.logs_tail("anything")
    with pytest.raises(EngineUnreachable):
        engine.read_file("anything", "/etc/hostname")
    assert issubclass(EngineUnreachable, EngineError) and not issubclass(EngineUnreachable, NotFound)
