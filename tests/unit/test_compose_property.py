"""Random Compose files with values of the wrong type: each import ends in one error line or a
stack that loads (secret values not required), never a traceback."""

from __future__ import annotations

import contextlib
import copy
import io
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostform.declare.load import load
from hostform.plans.cli import main

SEED: dict[str, Any] = {
    "name": "prop",
    "services": {
        "web": {
            "image": "nginx:1.27",
            "command": ["nginx", "-g", "daemon off;"],
            "environment": {"A": "1", "DB_PASSWORD_FILE": "/run/secrets/db", "API_TOKEN": "t0k3n-value"},
            "ports": ["8080:80", {"target": 443, "published": 8443}],
            "volumes": ["data:/data", {"type": "tmpfs", "target": "/cache"}],
            "networks": {"front": {"aliases": ["www"]}},
            "depends_on": {"db": {"condition": "service_healthy"}},
            "healthcheck": {"test": ["CMD", "true"], "interval": "5s", "retries": 3},
            "restart": "unless-stopped",
            "deploy": {"resources": {"limits": {"memory": "64M", "cpus": "0.5"}}},
            "labels": {"a": "b"},
            "cap_add": ["NET_ADMIN"],
            "extra_hosts": ["h:10.0.0.1"],
            "ulimits": {"nofile": {"soft": 1024, "hard": 2048}},
            "sysctls": {"net.core.somaxconn": 1024},
            "logging": {"driver": "json-file", "options": {"max-size": "1m"}},
            "privileged": False,
            "init": True,
            "shm_size": "64m",
            "dns": ["10.0.0.53"],
            "group_add": ["audio"],
            "security_opt": ["no-new-privileges:true"],
        },
        "db": {"image": "postgres:16", "environment": ["POSTGRES_PASSWORD_FILE=/run/secrets/pw"], "tmpfs": "/run"},
    },
    "networks": {"front": {"driver": "bridge", "labels": {"x": "y"}}},
    "volumes": {"data": {"labels": ["k=v"]}},
}

yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["", "${X}", "$$", "{{ x }}", "/dev/null", "host", "a=b", "1:2:3", "-1", "1e9"]),
)
yaml_values = st.recursive(
    yaml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(tree: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield here
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from paths(v, (*here, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from paths(v, (*here, i))


ALL_PATHS = [p for p in paths(SEED) if p]


def mutated(choices: list[tuple[int, Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(SEED)
    for index, value in choices:
        path = ALL_PATHS[index % len(ALL_PATHS)]
        parent: Any = doc
        for part in path[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                break
        else:
            with contextlib.suppress(KeyError, IndexError, TypeError):
                parent[path[-1]] = value
    return doc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(min_value=0, max_value=10**6), yaml_values), min_size=1, max_size=3))
def test_wrong_types_end_in_one_error_line_or_a_stack_that_loads(choices: list[tuple[int, Any]]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        compose, out = Path(folder) / "docker-compose.yml", Path(folder) / "hostform.toml"
        compose.write_text(yaml.safe_dump(mutated(choices)), encoding="utf-8")
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(["import", "compose", str(compose), "-o", str(out)])
        errors = [line for line in err.getvalue().splitlines() if line.startswith("error:")]
        if code != 0:
            assert code == 1 and len(errors) == 1, err.getvalue()
            assert errors[0].startswith("error: docker-compose.yml:"), errors
            return
        assert not errors
        load(out, environ={}, secrets_optional=True)  # a StackError here fails the test: the import made it
