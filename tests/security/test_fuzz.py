"""Hostile templates and paths, generated: every one loads or fails with a clean StackError,
within a time bound, and no planted host file, variable or secret shows in the result."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hostform.declare.access import Access
from hostform.declare.errors import StackError
from hostform.declare.load import load
from hostform.declare.secrets import Secret

TAG = uuid.uuid4().hex
HOST_TEXT, ENV_VALUE, SECRET_VALUE = f"FUZZF{TAG}", f"FUZZE{TAG}", f"FUZZS{TAG}"
ENVIRON = {"HF_FUZZ_ENV": ENV_VALUE, "HF_FUZZ_PW": SECRET_VALUE}
BOUND = 10.0  # seconds: the --untrusted render budget is 5

# fmt: off
ATOMS = [
    "9", "99999", "10**9", "9**9", "(9**9)", "'x'", "'%0999999d'", "'{:>99999}'", "[1]", "{}", "vars",
    "secret('HF_FUZZ_PW')", "secret('NOPE')", "env('HF_FUZZ_ENV')", "env(secret('HF_FUZZ_PW'))",
    "range(99999)", "namespace(x=1)", "lipsum(9)", "''.__class__", "vars.__class__", "cycler(1,2)",
    "self", "loop", "name", "joiner()", "dict(a=1)", "'\\x00'",
]
OPS = [" ** ", " * ", " + ", " ~ ", " % ", " // ", " / ", "[", "].", " | list", " | join", " | center(",
       " | format(", " | attr(", " | upper", " | reverse", ").", " if ", " else ", ", ", " == ", " in "]
PATHS = [
    "/etc/passwd", "/proc/self/environ", "/dev/zero", "/dev/stdin", "../outside/host.txt",
    "../../../../../../etc/shadow", "link", "linkdir/host.txt", "~/.ssh/id_rsa", "./ok.txt", "ok.txt",
    "sub/../ok.txt", "sub/../../outside/host.txt", ".", "..", "", "fifo", "\x00", "ok.txt\x00x",
]
# fmt: on

expressions = st.lists(st.one_of(st.sampled_from(ATOMS), st.sampled_from(OPS)), min_size=1, max_size=7).map("".join)
templates = st.one_of(
    expressions.map(lambda e: "{{ " + e + " }}"),
    st.tuples(expressions, expressions).map(lambda p: "{% for i in " + p[0] + " %}{{ " + p[1] + " }}{% endfor %}"),
    st.text(alphabet="{}%#()'\"|.*~ 9xs", max_size=20),
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fuzz")
    (root / "outside").mkdir()
    (root / "outside" / "host.txt").write_text(HOST_TEXT)
    base = root / "stack"
    (base / "sub").mkdir(parents=True)
    (base / "ok.txt").write_text("ok\n")
    (base / "link").symlink_to(root / "outside" / "host.txt")
    (base / "linkdir").symlink_to(root / "outside")
    os.mkfifo(base / "fifo")
    return base


def _check(folder: Path, body: str) -> None:
    (folder / "hostform.toml").write_text(body, encoding="utf-8")
    started = time.monotonic()
    try:
        loaded = load(folder, environ=ENVIRON, access=Access(untrusted=True, max_file_bytes=1 << 20))
    except StackError as exc:
        shown = "\n".join(exc.lines())
    else:
        shown = repr(loaded.stack.model_dump(mode="json")) + repr(
            {k: (f.content if isinstance(f.content, Secret) else f.content) for k, f in loaded.files.items()}
        )
        for name, f in loaded.files.items():
            if not isinstance(f.content, Secret):
                assert HOST_TEXT.encode() not in f.data, name
    assert time.monotonic() - started < BOUND, body
    for marker in (HOST_TEXT, ENV_VALUE, SECRET_VALUE):
        assert marker not in shown, body


def _toml(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\x00", "\\u0000")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template=templates, where=st.sampled_from(["env", "label", "image", "content"]))
def test_hostile_templates(folder: Path, template: str, where: str) -> None:
    value = _toml(template)
    body = '[stack]\nname = "fuzz"\n\n'
    if where == "content":
        body += f'[files.f]\ncontent = "{value}"\n'
    else:
        field = {"env": f'env = {{ X = "{value}" }}', "label": f'labels = {{ x = "{value}" }}', "image": ""}[where]
        image = value if where == "image" else "busybox"
        body += f'[containers.app]\nimage = "{image}"\n{field}\n'
    _check(folder, body)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), key=st.sampled_from(["source", "template", "env_file"]))
def test_hostile_paths(folder: Path, path: str, key: str) -> None:
    value = _toml(path)
    if key == "env_file":
        body = f'[stack]\nname = "fuzz"\n\n[containers.app]\nimage = "busybox"\nenv_file = "{value}"\n'
    else:
        body = f'[stack]\nname = "fuzz"\n\n[files.f]\n{key} = "{value}"\n'
    _check(folder, body)
