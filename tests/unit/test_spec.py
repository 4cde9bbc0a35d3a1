"""declare.spec, the plain frozen objects everything after validation works on: the same fields
(names, order, defaults) as their pydantic twins in declare.schema, so the two cannot drift apart,
and the same behaviour where the code relies on it (equality, hash, fields set, model_copy)."""

from __future__ import annotations

import copy
import pickle
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hostform.declare import schema, spec
from hostform.declare.jsonschema import _models
from hostform.declare.load import load
from hostform.declare.secrets import MASK, Secret

REPO = Path(__file__).resolve().parents[2]

FULL = """
[stack]
name = "full"
env = ["TAG"]
target = "host"

[vars]
port = 8080

[containers.web]
image = "busybox:1"
command = "httpd -f -p 80"
ports = ["127.0.0.1:{{ vars.port }}:80", { target = 81, published = 8081 }]
volumes = ["./data:/data", "logs:/logs:ro"]
networks = { front = { aliases = ["www"] } }
healthcheck = { test = "wget -q -O- localhost", interval = "5s" }
depends_on = ["migrate"]
labels = { tier = "web" }
env = { MODE = "prod", PORT = 80 }
files = [{ source = "conf", target = "/etc/app.conf", mode = "0600" }]
update = { order = "stop-first" }
cap_add = ["net_admin"]
stop_signal = "term"

[jobs.migrate]
image = "busybox:1"
command = ["sh", "-c", "true"]

[networks.front]
subnet = "10.99.0.0/24"

[volumes.logs]

[files.conf]
content = "x = 1"
"""


def _default(field: Any) -> Any:
    return field.default_factory() if field.default_factory is not None else field.default


def test_every_plain_class_has_the_fields_and_defaults_of_its_pydantic_twin() -> None:
    reachable = {m.__name__ for m in _models(schema.Stack)}
    assert reachable <= set(spec.CLASSES), "a model a validated stack can hold has no plain twin"
    for name, plain in spec.CLASSES.items():
        twin = getattr(schema, name)
        assert issubclass(twin, schema.Model)
        assert plain._fields == tuple(twin.model_fields), name
        for field_name, field in twin.model_fields.items():
            if field.is_required():
                assert field_name not in plain._defaults, f"{name}.{field_name} is required in the schema"
            else:
                assert field_name in plain._defaults, f"{name}.{field_name} has a default in the schema"
                assert plain._defaults[field_name] == spec.plain_of(_default(field)), f"{name}.{field_name}"
        assert set(plain._defaults) <= set(plain._fields), name
        assert issubclass(spec.JobSpec, spec.ContainerSpec)


def _validated(tmp_path: Path, body: str = FULL) -> tuple[schema.Stack, spec.Stack]:
    """The pydantic tree of a stack file, and the plain stack load() gives for it."""
    seen: list[schema.Stack] = []
    real = schema.Stack.model_validate.__func__  # type: ignore[attr-defined]

    def keep(cls: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(real(cls, *args, **kwargs))
        return seen[-1]

    (tmp_path / "hostform.toml").write_text(textwrap.dedent(body), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(schema.Stack, "model_validate", classmethod(keep))
        loaded = load(tmp_path / "hostform.toml", environ={"TAG": "1"})
    return seen[0], loaded.stack


def _same(plain: Any, model: Any) -> None:
    """Same values and the same fields set, all the way down."""
    if isinstance(plain, spec.Plain):
        assert type(plain).__name__ == type(model).__name__
        assert plain.model_fields_set == model.model_fields_set, type(plain).__name__
        for name in plain._fields:
            _same(getattr(plain, name), getattr(model, name))
    elif isinstance(plain, dict):
        assert plain.keys() == model.keys()
        for k in plain:
            _same(plain[k], model[k])
    elif isinstance(plain, tuple | list):
        assert type(plain) is type(model) and len(plain) == len(model)
        for a, b in zip(plain, model, strict=True):
            _same(a, b)
    else:
        assert type(plain) is type(model) and plain == model


def test_a_validated_tree_converts_with_its_values_and_fields_set(tmp_path: Path) -> None:
    model, loaded = _validated(tmp_path)
    plain = spec.plain_of(model)
    _same(plain, model)
    assert isinstance(loaded, spec.Stack)  # what load() hands on is the plain form
    assert spec.fields_of(plain) == model.model_dump(mode="python")
    web = plain.containers["web"]
    assert web.model_fields_set == model.containers["web"].model_fields_set
    assert "restart" not in web.model_fields_set and "update" in web.model_fields_set
    assert web.update.model_fields_set == {"order"} and web.update.order == "stop-first"
    assert [str(p) for p in web.ports] == [str(p) for p in model.containers["web"].ports]
    assert plain.name == model.name == "full" and plain.on_swarm is model.on_swarm is False
    assert list(plain.services()) == list(model.services()) == ["web", "migrate"]
    assert spec.fields_of(plain.all_networks()) == spec.fields_of(model.all_networks())
    assert plain.model_dump(mode="json") == model.model_dump(mode="json")


def test_equality_hash_copy_and_frozen_behave_like_the_models() -> None:
    a = spec.PortMapping(container_port=80, host_port=8080)
    b = spec.PortMapping(host_port=8080, container_port=80)
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != spec.PortMapping(container_port=81)
    assert str(a) == str(schema.PortMapping(container_port=80, host_port=8080)) == "8080:80/tcp"
    assert spec.JobSpec(image="x") != spec.ContainerSpec(image="x")  # the type counts, as for the models
    assert a.model_fields_set == {"container_port", "host_port"}
    c = a.model_copy(update={"protocol": "udp"})
    m = schema.PortMapping(container_port=80, host_port=8080).model_copy(update={"protocol": "udp"})
    assert c.protocol == "udp" and a.protocol == "tcp"
    assert c.model_fields_set == m.model_fields_set == {"container_port", "host_port", "protocol"}
    with pytest.raises(AttributeError):
        a.protocol = "udp"  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.PortMapping(container_port=80, nope=1)
    with pytest.raises(TypeError):
        spec.PortMapping()
    with pytest.raises(TypeError):
        a.model_copy(update={"nope": 1})
    one, two = spec.NetworkSpec(), spec.NetworkSpec()
    assert one.options is not two.options  # a dict default is the instance's own
    assert copy.deepcopy(spec.Stack(stack=spec.StackMeta(name="s"))) == spec.Stack(stack=spec.StackMeta(name="s"))
    assert pickle.loads(pickle.dumps(a)) == a


def test_a_secret_shows_only_as_its_mask() -> None:
    web = spec.ContainerSpec(image="x", env={"TOKEN": Secret("hunter2")})
    assert web.model_dump()["env"] == {"TOKEN": MASK}
    assert "hunter2" not in web.model_dump_json() and "hunter2" not in repr(web)


def test_toml_dates_and_times_in_vars_dump_to_json_as_pydantic_writes_them() -> None:
    import datetime

    moments = {
        "day": datetime.date(2000, 1, 1),
        "noon": datetime.datetime(2000, 1, 1, 12, 0),
        "utc": datetime.datetime(1979, 5, 27, 7, 32, tzinfo=datetime.UTC),
        "alarm": datetime.time(7, 32),
    }
    model = schema.Stack.model_validate({"stack": {"name": "dated"}, "vars": moments})
    plain = spec.plain_of(model)
    assert plain.model_dump(mode="json") == model.model_dump(mode="json")
    assert plain.model_dump_json() == model.model_dump_json()
