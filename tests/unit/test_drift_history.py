"""When did the stack file last change? Its last commit when tracked and clean, else its mtime."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from hostform.plans.drift import declaration_time

COMMITTED = 1_700_000_000


def git(cwd: Path, *args: str) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
        "GIT_AUTHOR_DATE": f"{COMMITTED} +0000",
        "GIT_COMMITTER_DATE": f"{COMMITTED} +0000",
    }
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)


def test_an_untracked_file_uses_its_mtime(tmp_path: Path) -> None:
    stack = tmp_path / "hostform.toml"
    stack.write_text("[stack]\nname = 's'\n")
    os.utime(stack, (1_000, 1_000))
    assert declaration_time(stack) == 1_000


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_checkout_uses_the_commit_time_until_edited(tmp_path: Path) -> None:
    stack = tmp_path / "hostform.toml"
    stack.write_text("[stack]\nname = 's'\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "hostform.toml")
    git(tmp_path, "commit", "-q", "-m", "stack")
    assert declaration_time(stack) == COMMITTED  # the checkout's mtime (now) is not when it changed
    stack.write_text("[stack]\nname = 't'\n")
    assert declaration_time(stack) == pytest.approx(stack.stat().st_mtime)


def test_a_missing_file_has_no_time(tmp_path: Path) -> None:
    assert declaration_time(tmp_path / "nope.toml") is None
