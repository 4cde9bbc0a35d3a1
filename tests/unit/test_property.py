"""Random mutations of valid stacks load cleanly or fail with a StackError: nothing else.

A user's mistakes (deleted keys, typos, wrong types, garbage strings, templates
naming variables that do not exist) must always come back as located problems,
never as a stray TypeError or a traceback.
"""

from __future__ import annotations

import contextlib
import copy
import io
import shutil
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostform.declare.canonical import canonical_json, service_spec
from hostform.declare.errors import StackError
from hostform.declare.load import LoadedStack, load
from hostform.plans.cli import main

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cr3t-never-shown"
ENVIRON = {"HF_SECRET": SECRET, "HF_PLAIN": "plain"}

SEEDS: dict[str, Path] = {
    **{p.parent.name: p for p in sorted(ROOT.glob("examples/*/hostform.toml"))},
    **{p.stem: p for p in sorted(ROOT.glob("tests/fixtures/valid/*.toml"))},
}

# fmt: off
NASTY = [
    "{{ vars.nope }}", "{{ nope }}", "{{ nope.x.y }}", "{% for x in %}", "{{", "}}", "{%", "{#",
    "{{ ''.__class__.__mro__ }}", "{{ secret('HF_SECRET') }}", "{{ secret('HF_MISSING') }}",
    "x{{ secret('HF_SECRET') }}=y", "{{ env('HF_MISSING') }}", "{{ env('HF_PLAIN') }}", "{{ 1 // 0 }}",
    "{{ vars }}", "{{ range(10**9) | list }}", "80:80:80", "8080:80", "127.0.0.1:80:80/udp", "[::1]:1:2",
    "../../etc:/x", "./x:/y:ro", "data:/d", "/abs:/abs:rw", "1m30s", "512m", "-1", "0", "", " ", "\x00",
    "a\x00b", "é", "x" * 300, "9" * 30, "service_healthy", "completed", "healthy", "start-first", "CMD",
    "KEY=VALUE", "=", "~", ".", "..", "/", "app.env", "templates",
    "a" * 5000, "a/" * 2100, "../" * 1400, "é" * 200, "~" + "a" * 300, "\u202e\u0301", "%ff", "x\ny", "./" + "b" * 256,
]
KEYS = [
    "image", "command", "ports", "volumes", "networks", "depends_on", "healthcheck", "env", "env_file",
    "files", "replicas", "update", "test", "aliases", "condition", "target", "published", "source",
    "content", "template", "driver", "name", "stack", "vars", "containers", "jobs", "mode", "order",
    "str", "list", "none",  # names pydantic also uses for union members
]
# fmt: on

text = st.one_of(st.sampled_from(NASTY), st.text(max_size=12))
scalars = st.one_of(
    text,
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.sampled_from([0, 1, -1, 80, 8080, 65536, 2**40]),
    st.floats(allow_nan=False),
    st.booleans(),
    st.datetimes(),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.one_of(st.sampled_from(KEYS), text), inner, max_size=3)
    ),
    max_leaves=6,
)


def paths(node: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path in a parsed TOML tree, parents before children."""
    children: Any = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield (*here, key)
        yield from paths(child, (*here, key))


def parent_of(tree: Any, path: tuple[Any, ...]) -> Any:
    for key in path[:-1]:
        tree = tree[key]
    return tree


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict[str, Any]]:
    seed = draw(st.sampled_from(sorted(SEEDS)))
    tree = tomllib.loads(SEEDS[seed].read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        every = list(paths(tree))
        if not every:
            break
        path = draw(st.sampled_from(every))
        parent, key = parent_of(tree, path), path[-1]
        kind = draw(st.sampled_from(["delete", "rename", "retype", "garbage", "nest", "template", "add"]))
        if kind == "delete":
            del parent[key]
        elif kind == "rename" and isinstance(parent, dict):
            new = draw(st.one_of(st.sampled_from(KEYS), text, st.just(str(key)[:-1] or "x")))
            parent[new] = parent.pop(key)
        elif kind == "retype":
            parent[key] = draw(scalars)
        elif kind == "garbage":
            parent[key] = draw(text)
        elif kind == "nest":
            parent[key] = {
                draw(st.sampled_from(KEYS)): copy.deepcopy(parent[key]),
                **draw(st.dictionaries(st.sampled_from(KEYS), values, max_size=2)),
            }
        elif kind == "template":
            old = parent[key]
            parent[key] = f"{old if isinstance(old, str) else ''}{{{{ vars.{draw(st.sampled_from(KEYS))} }}}}"
        elif kind == "add" and isinstance(parent[key], dict):
            parent[key][draw(st.one_of(st.sampled_from(KEYS), text))] = draw(values)
        elif kind == "add" and isinstance(parent[key], list):
            parent[key].append(draw(values))
    return seed, tree


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each seed's folder copied once, so templates and env files it names are there."""
    out = {}
    for name, path in SEEDS.items():
        target = tmp_path_factory.mktemp(name)
        shutil.copytree(path.parent, target, dirs_exist_ok=True)
        out[name] = target
    return out


def write(workdirs: dict[str, Path], seed: str, tree: dict[str, Any]) -> Path:
    path = workdirs[seed] / "mutated.toml"
    path.write_text(tomli_w.dumps(tree), encoding="utf-8")
    return path


def check_loaded(loaded: LoadedStack) -> None:
    assert SECRET not in loaded.stack.model_dump_json()
    assert SECRET not in repr(loaded)
    for name in loaded.stack.services():
        assert SECRET not in canonical_json(service_spec(loaded, name, key=b"k" * 32))


def test_the_seeds_are_valid(workdirs: dict[str, Path]) -> None:
    assert len(SEEDS) >= 4
    for seed in SEEDS:
        tree = tomllib.loads(SEEDS[seed].read_text(encoding="utf-8"))
        check_loaded(load(write(workdirs, seed, tree), environ=ENVIRON))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated())
def test_mutations_load_or_raise_stack_error(workdirs: dict[str, Path], case: tuple[str, dict[str, Any]]) -> None:
    seed, tree = case
    path = write(workdirs, seed, tree)
    try:
        loaded = load(path, environ=ENVIRON)
    except StackError as exc:
        assert exc.problems
        for line in exc.lines():
            assert line.startswith(str(path))
            assert SECRET not in line
            assert "Traceback" not in line
        return
    check_loaded(loaded)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=mutated())
def test_mutations_through_the_cli(workdirs: dict[str, Path], case: tuple[str, dict[str, Any]]) -> None:
    seed, tree = case
    path = write(workdirs, seed, tree)
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            code = main(["validate", str(path)])
        except SystemExit as exc:  # argparse only; never expected for a stack's content
            code = exc.code  # type: ignore[assignment]
    out, err = stdout.getvalue(), stderr.getvalue()
    assert code in (0, 1)
    if code == 0:
        assert out.startswith("stack '") and err == ""
    else:
        assert out == "" and err
        assert all(line.startswith(f"error: {path}") for line in err.splitlines())
    assert SECRET not in out + err


# ---------------------------------------------------------------- paths of any length or bytes

# fmt: off
PATH_PLACES = {  # where a stack names a path: the key an error names (or one below it), and how to set it
    "build": ("containers.app.build", lambda p: {"containers": {"app": {"build": p}}}),
    "context": ("containers.app.build", lambda p: {"containers": {"app": {"build": {"context": p}}}}),
    "dockerfile": ("containers.app.build",
                   lambda p: {"containers": {"app": {"build": {"context": ".", "dockerfile": p}}}}),
    "source": ("files.f", lambda p: {"files": {"f": {"source": p}}}),
    "template": ("files.f", lambda p: {"files": {"f": {"template": p}}}),
    "env_file": ("containers.app.env_file", lambda p: {"containers": {"app": {"image": "x", "env_file": p}}}),
    "bind": ("containers.app.volumes", lambda p: {"containers": {"app": {"image": "x", "volumes": [f"./{p}:/m"]}}}),
}
# fmt: on
odd_paths = st.one_of(
    st.text(max_size=40),  # any character but lone surrogates (TOML cannot hold those)
    st.integers(min_value=200, max_value=6000).map(lambda n: "a" * n),
    st.tuples(
        st.sampled_from(["a", "é", "日", "../", "a/", "./", "~", "\u202e", "\x00", " ", "\\", "%"]),
        st.integers(min_value=1, max_value=3000),
    ).map(lambda t: t[0] * t[1]),
    st.lists(st.text(min_size=1, max_size=300), min_size=1, max_size=20).map("/".join),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(place=st.sampled_from(sorted(PATH_PLACES)), given_path=odd_paths)
def test_a_path_of_any_length_or_bytes_is_one_error_naming_its_key(
    tmp_path_factory: pytest.TempPathFactory, place: str, given_path: str
) -> None:
    key, tree_of = PATH_PLACES[place]
    folder = tmp_path_factory.mktemp("paths", numbered=True)
    path = folder / "hostform.toml"
    tree = {"stack": {"name": "paths"}, **tree_of(given_path)}
    if place in ("source", "template"):
        tree["containers"] = {"app": {"image": "x", "files": [{"source": "f", "target": "/etc/f"}]}}
    path.write_text(tomli_w.dumps(tree), encoding="utf-8")
    try:
        load(path, environ=ENVIRON)
    except StackError as exc:
        for line in exc.lines():
            assert line.startswith(str(path)) and "\n" not in line
            assert len(line) < len(str(path)) + 600, line  # a long path is cut short in the message
        assert any(p.key.startswith(key) for p in exc.problems), exc.lines()
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        code = main(["validate", "--no-cache", str(path)])
    assert code in (0, 1) and "Traceback" not in stderr.getvalue()
