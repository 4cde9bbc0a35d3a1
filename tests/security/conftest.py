"""Security tests: a stack file written by a stranger, planned by a pipeline with secrets set.

Every test plants a host file outside the stack's folder, an environment variable
and a secret, each with a unique marker, and asserts that no byte of any of them
reaches anything hostform prints or stores.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import (  # noqa: F401 - fixtures shared with the integration tests
    BUSYBOX,
    CLIResult,
    StackFixture,
    docker_api,
    run_cli,
    stack,
)


@dataclass(frozen=True)
class Planted:
    """Values an attacker must never see: a host file's content, a variable, a secret."""

    host_file: Path
    host_text: str
    env_name: str
    env_value: str
    secret_name: str
    secret_value: str

    @property
    def markers(self) -> tuple[str, ...]:
        return (self.host_text, self.env_value, self.secret_value)

    def environ(self) -> dict[str, str]:
        return {self.env_name: self.env_value, self.secret_name: self.secret_value}

    def assert_absent(self, *texts: str) -> None:
        for text in texts:
            for marker in self.markers:
                assert marker not in text, f"{marker!r} leaked:\n{text}"
                assert marker[8:] not in text, f"part of {marker!r} leaked:\n{text}"


@pytest.fixture
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    outside = tmp_path_factory.mktemp("outside")
    tag = uuid.uuid4().hex
    host_file = outside / "host-secret.txt"
    host_text = f"PLANTEDF{tag}"
    host_file.write_text(f"root:{host_text}:0\n", encoding="utf-8")
    return Planted(host_file, host_text, "HF_PLANTED_TOKEN", f"PLANTEDE{tag}", "HF_PLANTED_PW", f"PLANTEDS{tag}")


@pytest.fixture
def hostile(stack: StackFixture, planted: Planted) -> Iterator[StackFixture]:  # noqa: F811
    """The stack fixture with the planted variable and secret in hostform's environment."""
    stack.env.update(planted.environ())
    yield stack


def every_output(on: StackFixture, *extra: str, engine: bool = True) -> tuple[list[CLIResult], str]:
    """validate, and (with an engine) plan as text, JSON and markdown, a saved plan and its show
    in every format: the results, and everything they printed or stored as one text."""
    runs = [on.run("validate", str(on.file), *extra)]
    saved = on.dir.parent / f"{on.name}-plan.json"
    if engine:
        runs += [
            on.run("plan", str(on.file), *extra),
            on.run("plan", str(on.file), "--json", *extra),
            on.run("plan", str(on.file), "--format", "markdown", *extra),
            on.run("plan", str(on.file), "--out", str(saved), *extra),
        ]
        if saved.exists():
            runs += [on.run("show", str(saved), "--format", f) for f in ("text", "json", "markdown")]
    stored = saved.read_text(encoding="utf-8") if saved.exists() else ""
    return runs, "\n".join(r.both for r in runs) + stored


def assert_clean_error(result: CLIResult, *fragments: str) -> None:
    assert result.code == 1, result.both
    assert "Traceback" not in result.both, result.both
    for fragment in fragments:
        assert fragment in result.err, f"{fragment!r} not in:\n{result.err}"


@dataclass(frozen=True)
class Measured:
    """A hostform run with what it cost: wall seconds and the peak RSS of its whole process tree."""

    result: CLIResult
    seconds: float
    peak_mib: float


# Runs hostform as its child and prints the largest RSS among all the processes it waited for
# (hostform and the child it forks for untrusted work): getrusage(RUSAGE_CHILDREN).ru_maxrss.
_MEASURE = """
import resource, subprocess, sys, json
proc = subprocess.run([sys.executable, "-m", "hostform.plans.cli", *sys.argv[1:]], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"code": proc.returncode, "out": proc.stdout, "err": proc.stderr, "peak": peak}))
"""


def measured(on: StackFixture | None, *args: str, timeout: float = 60, cwd: Path | None = None) -> Measured:
    import json
    import os
    import subprocess
    import sys
    import time

    from tests.integration.conftest import REPO

    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURE, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(on.env if on else {})},
        timeout=timeout,
        cwd=cwd or (on.dir if on else REPO),
    )
    seconds = time.monotonic() - started
    got = json.loads(proc.stdout)
    return Measured(CLIResult(got["code"], got["out"], got["err"]), seconds, got["peak"])


def assert_one_line(result: CLIResult, *fragments: str) -> None:
    """Exit 1, nothing on standard output, exactly one line on standard error holding `fragments`."""
    assert_clean_error(result, *fragments)
    assert result.out == "", result.both
    assert len(result.err.strip().splitlines()) == 1, result.err
