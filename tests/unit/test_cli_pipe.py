"""A reader that goes away (`hostform schema | head`) ends the command quietly with 141
(128 + SIGPIPE), as a command killed by SIGPIPE does: no traceback, no "Exception ignored"."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def run_into_closed_pipe(*args: str) -> subprocess.CompletedProcess[str]:
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first write: deterministic
    try:
        return subprocess.run(
            [sys.executable, "-m", "hostform.plans.cli", *args],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(write)


@pytest.mark.parametrize("args", [["schema"], ["--version"], ["validate", "examples/webapp"]])
def test_a_closed_pipe_ends_quietly_with_141(args: list[str]) -> None:
    done = run_into_closed_pipe(*args)
    assert done.returncode == 141, done.stderr
    assert done.stderr == ""


def test_the_entry_points_version_too() -> None:
    read, write = os.pipe()
    os.close(read)
    try:
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; sys.argv = ['hostform', '--version']\n"
                "from hostform.plans.entry import main\nsys.exit(main())",
            ],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, "")
