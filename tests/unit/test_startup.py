"""What a command imports before it answers: `--version` and `--help` neither pydantic nor the
docker SDK, `validate` no docker SDK, a no-op plan or drift on the local engine neither the SDK
nor requests/urllib3 (runtime.unix_reads reads). Whole processes, as a user starts them (not
timed: bench/plan_remote.py measures; a heavy import creeping back is what these catch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from hostform.plans.version import VERSION

PROBE = """
import json, sys
from hostform.plans.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = ("pydantic", "pydantic_core", "docker", "requests", "urllib3", "jinja2", "rich", "deepdiff")
print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}), file=sys.stderr)
"""


def loaded_by(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env
    )
    result: dict[str, object] = json.loads(proc.stderr.strip().splitlines()[-1])
    return result


def test_the_hostform_command_answers_version_before_argparse() -> None:
    probe = (
        "import sys; sys.argv = ['hostform', '--version']\n"
        "from hostform.plans.entry import main\n"
        "main()\n"
        "print(sorted(m for m in ('argparse', 'hostform.plans.cli', 'pydantic', 'docker') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60).stdout
    assert out.splitlines() == [f"hostform {VERSION}", "[]"]


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["plan", "--help"]])
def test_version_and_help_import_neither_pydantic_nor_the_sdk(args: list[str]) -> None:
    assert loaded_by(*args) == {"code": 0, "loaded": []}


def test_validate_does_not_import_the_docker_sdk(tmp_path: Path) -> None:
    stack = tmp_path / "hostform.toml"
    stack.write_text('[stack]\nname = "small"\n\n[containers.web]\nimage = "busybox:1"\nports = ["8080:80"]\n')
    result = loaded_by("validate", str(stack))
    assert result["code"] == 0
    assert set(result["loaded"]) & {"docker", "requests", "urllib3"} == set(), result  # type: ignore[arg-type]
    assert "pydantic" in result["loaded"]  # type: ignore[operator]  # it did validate


CACHED = """
import json, sys
from hostform.declare import schema
from hostform.declare.canonical import service_spec
from hostform.declare.load import load
loaded = load(sys.argv[1], environ={}, cache=True)
for name in loaded.stack.services():
    service_spec(loaded, name, b"key")
loaded.stack.all_networks()
built = [n for n, c in vars(schema).items() if isinstance(c, type) and issubclass(c, schema.Model)
         and c.__pydantic_complete__]
print(json.dumps(built))
"""


def test_a_stack_from_the_cache_builds_no_pydantic_validator(tmp_path: Path) -> None:
    """What the cache of validated stacks saves: importing the models builds nothing (defer_build),
    and a stack read back from the cache, its canonical specs included, never needs a validator."""
    stack = tmp_path / "hostform.toml"
    stack.write_text('[stack]\nname = "small"\n\n[containers.web]\nimage = "busybox:1"\nports = ["8080:80"]\n')
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    runs = [
        subprocess.run([sys.executable, "-c", CACHED, str(stack)], capture_output=True, text=True, env=env, timeout=60)
        for _ in range(2)
    ]
    assert [r.returncode for r in runs] == [0, 0], runs[-1].stderr
    assert "Stack" in json.loads(runs[0].stdout)  # the first load validated
    assert json.loads(runs[1].stdout) == []  # the second came from the cache


SDK = {"docker", "requests", "urllib3"}


@pytest.fixture
def applied(tmp_path: Path) -> Iterator[Path]:
    """A small stack applied on the local engine (fails when CI is set and no engine answers)."""
    from hostform.declare.errors import HostformError
    from hostform.runtime.engine import Engine

    try:
        Engine(timeout=10).ping()
    except HostformError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and no Docker engine answers: {exc}")
        pytest.skip(f"no Docker engine: {exc}")
    name = f"hfs{uuid.uuid4().hex[:8]}"
    stack = tmp_path / "hostform.toml"
    stack.write_text(
        f'[stack]\nname = "{name}"\n\n[containers.web]\nimage = "hostform-test/busybox:1"\n'
        'command = ["sleep", "600"]\nstop_signal = "SIGKILL"\n'
        'files = [{ source = "conf", target = "/etc/app.conf" }]\n\n[files.conf]\ncontent = "x = 1"\n\n[volumes.data]\n'
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cli = [sys.executable, "-m", "hostform.plans.cli"]
    try:
        subprocess.run([*cli, "apply", str(stack), "--auto-approve"], check=True, env=env, timeout=120)
        yield stack
    finally:
        import docker

        from tests.integration.conftest import remove_stack_objects

        remove_stack_objects(docker.APIClient(version="1.41", timeout=60), name)


@pytest.mark.engine
def test_a_no_op_plan_and_drift_on_the_local_engine_load_no_http_library(applied: Path) -> None:
    """The local socket's reads go over runtime.unix_reads: the docker SDK, requests and urllib3
    (~50 ms of start-up) are for writes and remote engines. The lock, the record and the live
    config file (an archive read) are read too."""
    env = {**os.environ, "XDG_CACHE_HOME": str(applied.parent / "cache")}
    env.pop("DOCKER_HOST", None)
    for command in (["plan", str(applied), "--detailed-exitcode"], ["drift", str(applied)]):
        for _ in range(2):  # the stack validated, then read from the cache of validated stacks
            result = loaded_by(*command, env=env)
            assert result["code"] == 0, (command, result)
            assert SDK & set(result["loaded"]) == set(), (command, result)  # type: ignore[arg-type]
    applied.write_text(applied.read_text().replace('"600"', '"601"'))  # a plan with a change reads the same way
    changed = loaded_by("plan", str(applied), "--detailed-exitcode", env=env)
    assert changed["code"] == 2 and SDK & set(changed["loaded"]) == set(), changed  # type: ignore[arg-type]


PLAIN = """
import json, sys
from hostform.plans.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
validator = ("pydantic", "pydantic_core", "annotated_types", "hostform.declare.schema")
print(json.dumps({"code": code, "loaded": [m for m in validator if m in sys.modules]}), file=sys.stderr)
"""


@pytest.mark.engine
def test_a_no_op_plan_and_drift_from_the_cache_import_no_pydantic(applied: Path) -> None:
    """On a cache hit the stack is built from declare.spec's plain classes: a no-op plan and drift
    never import pydantic or the schema's models (issues 13 and 17: start-up CPU); on a miss
    (--no-cache) the models validate."""
    env = {**os.environ, "XDG_CACHE_HOME": str(applied.parent / "cache")}

    def run(*args: str) -> dict[str, object]:
        proc = subprocess.run(
            [sys.executable, "-c", PLAIN, *args], capture_output=True, text=True, env=env, timeout=120
        )
        result: dict[str, object] = json.loads(proc.stderr.strip().splitlines()[-1])
        return result

    assert run("plan", str(applied), "--detailed-exitcode") == {"code": 0, "loaded": []}
    assert run("drift", str(applied)) == {"code": 0, "loaded": []}
    assert run("plan", str(applied), "--no-cache", "--detailed-exitcode") == {
        "code": 0,
        "loaded": ["pydantic", "pydantic_core", "annotated_types", "hostform.declare.schema"],
    }


OFF_PATH = """
import json, sys
from hostform.plans.cli import main
code = main(sys.argv[1:])
unused = ("hostform.plans.hostcheck", "hostform.plans.exposure", "hostform.plans.filediff",
          "hostform.runtime.build_context", "hostform.runtime.hostnet", "hostform.runtime.enginenet",
          "hostform.plans.apply", "hostform.plans.planfile", "hostform.plans.progress")
print(json.dumps({"code": code, "loaded": [m for m in unused if m in sys.modules]}), file=sys.stderr)
"""


@pytest.mark.engine
def test_a_no_op_plan_and_drift_import_only_what_they_use(applied: Path) -> None:
    """Host checks, exposure rules, file diffs and build contexts serve plans with changes or
    builds; the host's sockets, drift of fixed ports alone (this stack publishes none). Each cost
    1-6 ms of every no-op plan or drift."""
    env = {**os.environ, "XDG_CACHE_HOME": str(applied.parent / "cache")}
    for command in (["plan", str(applied), "--detailed-exitcode"], ["drift", str(applied)]):
        proc = subprocess.run(
            [sys.executable, "-c", OFF_PATH, *command], capture_output=True, text=True, env=env, timeout=120
        )
        assert json.loads(proc.stderr.strip().splitlines()[-1]) == {"code": 0, "loaded": []}, (command, proc.stderr)
