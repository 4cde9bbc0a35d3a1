"""The JSON Schema from `hostform schema` accepts what validate accepts, as far as structure goes."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from hostform.declare.jsonschema import stack_json_schema

ROOT = Path(__file__).resolve().parents[2]
INVALID = ROOT / "tests" / "fixtures" / "invalid"
STACKS = sorted([*ROOT.glob("examples/*/hostform.toml"), *ROOT.glob("tests/fixtures/valid/*.toml")])


def is_structural(path: Path) -> bool:
    """A '# structural' header: wrong keys or types, which a JSON Schema can see."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            return False
        if line.lstrip("# ").strip() == "structural":
            return True
    return False


STRUCTURAL = [p for p in sorted(INVALID.glob("*.toml")) if is_structural(p)]
SEMANTIC = [p for p in sorted(INVALID.glob("*.toml")) if not is_structural(p)]


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    out = subprocess.run(
        [sys.executable, "-m", "hostform.plans.cli", "schema"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    schema = json.loads(out)
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def errors(validator: jsonschema.protocols.Validator, data: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]


def test_the_command_prints_the_library_schema(validator: jsonschema.protocols.Validator) -> None:
    assert validator.schema == json.loads(json.dumps(stack_json_schema()))


def test_it_is_draft_2020_12(validator: jsonschema.protocols.Validator) -> None:
    assert isinstance(validator, jsonschema.Draft202012Validator)


@pytest.mark.parametrize("path", STACKS, ids=[str(p.relative_to(ROOT)) for p in STACKS])
def test_valid_stacks_pass(validator: jsonschema.protocols.Validator, path: Path) -> None:
    assert errors(validator, tomllib.loads(path.read_text())) == []


def test_there_are_structural_and_semantic_fixtures() -> None:
    assert len(STRUCTURAL) >= 8
    assert len(SEMANTIC) >= 8


@pytest.mark.parametrize("path", STRUCTURAL, ids=[p.stem for p in STRUCTURAL])
def test_structural_errors_are_rejected(validator: jsonschema.protocols.Validator, path: Path) -> None:
    assert errors(validator, tomllib.loads(path.read_text())) != []


def parses(path: Path) -> bool:
    try:
        tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError:
        return False
    return True


@pytest.mark.parametrize("path", [p for p in SEMANTIC if parses(p)], ids=lambda p: p.stem)
def test_semantic_errors_pass_the_schema(validator: jsonschema.protocols.Validator, path: Path) -> None:
    # cycles, references, clashes, bad spellings inside strings: only `hostform validate` sees these;
    # if the schema starts catching one, mark that fixture `# structural`
    assert errors(validator, tomllib.loads(path.read_text())) == []


MINIMAL: dict[str, Any] = {"stack": {"name": "s"}}


@pytest.mark.parametrize(
    "stack",
    [
        {**MINIMAL, "volumes": {"data": {}}, "networks": {"back": {}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "ports": ["80", 80, "1:2/udp", {"target": 80}]}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "healthcheck": {"test": "true", "interval": "5s"}}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "healthcheck": {"test": ["CMD", "true"], "interval": 5}}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "env_file": "a.env", "env": ["A=1"]}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "env": {"A": 1, "B": True, "C": 0.5, "D": "d"}}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "command": "sh -c 'x'", "depends_on": ["a"]}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "networks": {"n": {"aliases": ["a"]}}}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "extra_hosts": {"h": "1.2.3.4"}, "memory": "1g"}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "files": [{"source": "f", "target": "/f", "mode": "0600"}]}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "stop_grace_period": 2.5, "memory": 1024}}},
        {**MINIMAL, "files": {"f": {"content": "x"}}, "vars": {"a": [1, {"b": 2}]}},
    ],
)
def test_spellings_the_loader_accepts_pass_the_schema(
    validator: jsonschema.protocols.Validator, stack: dict[str, Any]
) -> None:
    assert errors(validator, stack) == []


@pytest.mark.parametrize(
    "stack",
    [
        {},
        {**MINIMAL, "extra": 1},
        {"stack": {"name": "s", "nme": "x"}},
        {**MINIMAL, "containers": {"w": {}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "imgae": "x"}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "ports": "80:80"}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "ports": [{"target": 80, "publshed": 1}]}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "restart": "sometimes"}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "replicas": "two"}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "healthcheck": {"test": 5}}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "volumes": [{"source": "v"}]}}},
        {**MINIMAL, "containers": {"w": {"image": "x", "depends_on": {"a": "ready"}}}},
        {**MINIMAL, "volumes": {"data": {"drvier": "local"}}},
        {**MINIMAL, "networks": {"back": {"internal": "yes please"}}},
        {**MINIMAL, "files": {"f": {"contents": "x"}}},
        {**MINIMAL, "jobs": {"j": {"image": 1}}},
    ],
)
def test_structural_mistakes_fail_the_schema(validator: jsonschema.protocols.Validator, stack: dict[str, Any]) -> None:
    assert errors(validator, stack) != []


TEMPLATED = """
[stack]
name = "t"

[vars]
n = 2
ro = true
policy = "always"
grace = 5

[containers.w]
image = "x"
replicas = "{{ vars.n }}"
read_only = "{{ vars.ro | lower }}"
restart = "{{ vars.policy }}"
stop_grace_period = "{{ vars.grace }}"
pids_limit = "{% if vars.n > 1 %}100{% else %}50{% endif %}"
ports = [{ target = "{{ 8000 + vars.n }}" }]
"""


def test_templated_scalars_pass_the_schema_as_they_pass_the_loader(
    validator: jsonschema.protocols.Validator, tmp_path: Path
) -> None:
    from hostform.declare.load import load

    (tmp_path / "hostform.toml").write_text(TEMPLATED)
    spec = load(tmp_path).stack.containers["w"]
    assert (spec.replicas, spec.read_only, spec.restart, spec.pids_limit) == (2, True, "always", 100)
    assert spec.ports[0].container_port == 8002 and spec.stop_grace_period == 5 * 10**9
    assert errors(validator, tomllib.loads(TEMPLATED)) == []


@pytest.mark.parametrize("value", ["two", "{ vars.n }", "{{ unclosed"])
def test_a_plain_string_is_still_no_number(validator: jsonschema.protocols.Validator, value: str) -> None:
    assert errors(validator, {**MINIMAL, "containers": {"w": {"image": "x", "replicas": value}}}) != []


def test_duration_defaults_read_as_written(validator: jsonschema.protocols.Validator) -> None:
    defs = validator.schema["$defs"]
    assert defs["ContainerSpec"]["properties"]["stop_grace_period"]["default"] == "10s"
    assert defs["Healthcheck"]["properties"]["interval"]["default"] == "30s"
    assert defs["Healthcheck"]["properties"]["start_period"]["default"] == "0s"
