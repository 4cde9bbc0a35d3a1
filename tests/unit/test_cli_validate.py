"""`hostform validate` on a table of invalid stacks, the examples, and `hostform schema`.

Each tests/fixtures/invalid/*.toml holds its expectations in header comments:

    # expect: FRAGMENT      (one or more) text that must appear in stderr
    # structural            the JSON Schema rejects it too (see test_jsonschema.py)
    # env: NAME=VALUE       set in the environment of the run

Adding a case is adding a file.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hostform.declare.errors import StackError
from hostform.plans.cli import main

ROOT = Path(__file__).resolve().parents[2]
INVALID = ROOT / "tests" / "fixtures" / "invalid"
VALID = ROOT / "tests" / "fixtures" / "valid"
EXAMPLES = ROOT / "examples"


@dataclass(frozen=True)
class Case:
    path: Path
    expect: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    structural: bool = False

    @property
    def rel(self) -> str:
        return str(self.path.relative_to(ROOT))


def read_case(path: Path) -> Case:
    case = Case(path)
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("# ")
        if text.startswith("expect:"):
            case.expect.append(text.removeprefix("expect:").strip())
        elif text.startswith("env:"):
            name, _, value = text.removeprefix("env:").strip().partition("=")
            case.env[name] = value
        elif text.strip() == "structural":
            object.__setattr__(case, "structural", True)
    return case


CASES = [read_case(p) for p in sorted(INVALID.glob("*.toml"))]
EXAMPLE_DIRS = sorted(p.parent for p in EXAMPLES.glob("*/hostform.toml"))


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOSTFORM_FIXTURE_", "WEBAPP_"))}
    return {**env, **(extra or {})}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hostform.plans.cli", *args],
        cwd=ROOT,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def invalid_runs() -> dict[Path, subprocess.CompletedProcess[str]]:
    # one interpreter per case is slow to start: run them side by side
    with ThreadPoolExecutor(max_workers=max(2, (os.cpu_count() or 1) * 2)) as pool:
        runs = pool.map(lambda c: run_cli("validate", c.rel, env=c.env), CASES)
        return {case.path: run for case, run in zip(CASES, runs, strict=True)}


def test_the_table_is_large_and_every_case_says_what_it_expects() -> None:
    assert len(CASES) >= 20
    for case in CASES:
        assert case.expect, f"{case.rel} has no '# expect:' header"


@pytest.mark.parametrize("case", CASES, ids=[c.path.stem for c in CASES])
def test_invalid_stack(case: Case, invalid_runs: dict[Path, subprocess.CompletedProcess[str]]) -> None:
    run = invalid_runs[case.path]
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
    assert run.stdout == ""
    lines = run.stderr.splitlines()
    assert lines
    for line in lines:
        assert line.startswith(f"error: {case.rel}"), line
    for fragment in case.expect:
        assert fragment in run.stderr, f"{fragment!r} not in:\n{run.stderr}"
    for value in case.env.values():
        assert value not in run.stderr  # secrets given to a case never show


@pytest.mark.parametrize("example", EXAMPLE_DIRS, ids=[p.name for p in EXAMPLE_DIRS])
def test_examples_are_valid_with_no_environment(example: Path) -> None:
    run = run_cli("validate", str(example.relative_to(ROOT)))
    assert run.returncode == 0, run.stderr
    assert run.stderr == ""
    assert run.stdout.startswith(f"stack '{example.name}' is valid: ")


def test_there_are_three_examples() -> None:
    assert {p.name for p in EXAMPLE_DIRS} >= {"static-site", "webapp", "worker-queue"}


def test_console_script() -> None:
    exe = shutil.which("hostform")
    if exe is None:
        pytest.skip("the hostform console script is not installed")
    run = subprocess.run(
        [exe, "validate", "examples/static-site"], cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert (run.returncode, run.stdout) == (
        0,
        "stack 'static-site' is valid: 1 container, 0 jobs, 0 volumes, 0 networks, 1 file\n",
    )
    run = subprocess.run(
        [exe, "validate", "tests/fixtures/invalid/bad_size.toml"],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 1
    assert run.stderr.startswith("error: tests/fixtures/invalid/bad_size.toml:7: containers.web.memory")


# ---------------------------------------------------------------- in-process


def test_valid_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(VALID / "kitchen_sink.toml")]) == 0
    assert capsys.readouterr().out == (
        "stack 'kitchen-sink' is valid: 3 containers, 1 job, 3 volumes, 2 networks, 2 files\n"
    )


def test_missing_stack(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["validate", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert (
        err == f"error: {tmp_path / 'nope'}: no such stack file (give a .toml file or a folder holding hostform.toml)\n"
    )


def test_a_folder_is_shown_as_its_stack_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "hostform.toml").write_text('[stack]\nname = "t"\n[containers.web]\nimage = 3\n')
    assert main(["validate", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'hostform.toml'}:4: containers.web.image")


def test_vars_from_the_command_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stack = tmp_path / "s.toml"
    stack.write_text(
        '[stack]\nname = "t"\n[vars]\nn = 1\n[containers.w]\nimage = "x"\nreplicas = "{{ vars.n }}"\n'
        '[containers.a]\nimage = "x"\n[containers.b]\nimage = "x"\n'
    )
    var_file = tmp_path / "v.toml"
    var_file.write_text("n = 0\n")
    assert main(["validate", str(stack), "--var-file", str(var_file), "--var", "n=5", "--var", "n=x"]) == 1
    assert "containers.w.replicas" in capsys.readouterr().err  # the last --var wins: 'x'
    assert main(["validate", str(stack), "--var", "n=x", "--var-file", str(var_file), "--var", "n=2"]) == 0
    capsys.readouterr()


def test_debug_shows_the_exception(tmp_path: Path) -> None:
    stack = tmp_path / "s.toml"
    stack.write_text('[stack]\nname = "t"\n[containers.web]\nimgae = "x"\n')
    with pytest.raises(StackError):
        main(["validate", "--debug", str(stack)])
    run = run_cli("validate", "--debug", str(stack))
    assert run.returncode == 1 and "Traceback" in run.stderr


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate"])
    assert exc.value.code == 2
    assert "STACK" in capsys.readouterr().err


def test_schema_command_prints_a_json_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "hostform stack"
    assert schema["required"] == ["stack"]
    kinds = {"stack", "vars", "containers", "jobs", "networks", "volumes", "files", "secrets"}
    assert set(schema["properties"]) == kinds
