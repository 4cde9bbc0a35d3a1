"""`hostform secrets set` and `edit` against Debian's `age` tool: what hostform writes, age reads
back (and the other way round); values come from standard input or the editor, never argv."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

VALUE = "cli-held-Wq55-value"


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, str]:
    if shutil.which("age") is None or shutil.which("age-keygen") is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set and the age tool is missing: scripts/secrets-deps installs it")
        pytest.skip("the age tool is missing (scripts/secrets-deps installs it)")
    identity = tmp_path / "identity.txt"
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)
    public = subprocess.run(["age-keygen", "-y", str(identity)], check=True, capture_output=True, text=True).stdout
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / ".age-recipients").write_text(public)
    return {"HOSTFORM_AGE_IDENTITY_FILE": str(identity), "identity": str(identity)}


def hostform(*args: str, env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hostform.plans.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def age_decrypt(path: Path, identity: str) -> str:
    return subprocess.run(["age", "-d", "-i", identity, str(path)], check=True, capture_output=True, text=True).stdout


def test_set_adds_and_changes_values_that_age_reads_back(tmp_path: Path, keys: dict[str, str]) -> None:
    file = tmp_path / "stack" / "secrets.env.age"
    done = hostform("secrets", "set", str(file), "DB_PASSWORD", env=keys, stdin=f"{VALUE}\n")
    assert done.returncode == 0, done.stderr
    assert "DB_PASSWORD added" in done.stdout and VALUE not in done.stdout + done.stderr
    hostform("secrets", "set", str(file), "TLS_KEY", env=keys, stdin="line one\nline two\n")
    done = hostform("secrets", "set", str(file), "DB_PASSWORD", env=keys, stdin="second")
    assert "DB_PASSWORD changed" in done.stdout
    assert age_decrypt(file, keys["identity"]) == 'DB_PASSWORD=second\nTLS_KEY="line one\\nline two"\n'
    assert VALUE.encode() not in file.read_bytes()


def test_set_refuses_without_recipients_or_a_value(tmp_path: Path, keys: dict[str, str]) -> None:
    file = tmp_path / "stack" / "secrets.env.age"
    assert hostform("secrets", "set", str(file), "A", env=keys, stdin="").returncode == 1
    (tmp_path / "stack" / ".age-recipients").write_text("# nobody\n")
    refused = hostform("secrets", "set", str(file), "A", env=keys, stdin=VALUE)
    assert refused.returncode == 1 and "lists no recipient" in refused.stderr and not file.exists()
    bad_name = hostform("secrets", "set", str(file), "not-a-name", env=keys, stdin=VALUE)
    assert bad_name.returncode == 1 and "is not a secret's name" in bad_name.stderr


def test_edit_runs_the_editor_on_a_private_file_and_removes_it(tmp_path: Path, keys: dict[str, str]) -> None:
    file = tmp_path / "stack" / "secrets.env.age"
    recipients = tmp_path / "stack" / ".age-recipients"
    subprocess.run(["age", "-R", str(recipients), "-o", str(file)], input=b"A=1\n", check=True)
    log = tmp_path / "editor.log"
    editor = tmp_path / "editor"
    editor.write_text(
        "#!/bin/sh\n"
        f'stat -c "%a %n" "$1" "$(dirname "$1")" > {log}\n'
        f'echo "$1" >> {log}\n'
        f'printf "B={VALUE}\\n" >> "$1"\n'
    )
    editor.chmod(0o755)
    done = hostform("secrets", "edit", str(file), env={**keys, "EDITOR": str(editor), "VISUAL": ""})
    assert done.returncode == 0, done.stderr
    modes = log.read_text().splitlines()
    assert modes[0].startswith("600 ") and modes[1].startswith("700 ")
    assert not Path(modes[2]).exists() and not Path(modes[2]).parent.exists()
    assert age_decrypt(file, keys["identity"]) == f"A=1\nB={VALUE}\n"
    assert VALUE not in done.stdout + done.stderr


def test_edit_keeps_the_file_when_the_editor_fails_or_writes_nonsense(tmp_path: Path, keys: dict[str, str]) -> None:
    file = tmp_path / "stack" / "secrets.env.age"
    subprocess.run(["age", "-R", str(tmp_path / "stack" / ".age-recipients"), "-o", str(file)], input=b"A=1\n")
    before = file.read_bytes()
    failed = hostform("secrets", "edit", str(file), env={**keys, "EDITOR": "false", "VISUAL": ""})
    assert failed.returncode == 1 and "nothing was saved" in failed.stderr
    nonsense = hostform("secrets", "edit", str(file), env={**keys, "EDITOR": "sed -i s/=/-/", "VISUAL": ""})
    assert nonsense.returncode == 1 and "line 1: not NAME=VALUE" in nonsense.stderr, nonsense.stderr
    assert file.read_bytes() == before


def test_edit_refuses_without_recipients(tmp_path: Path, keys: dict[str, str]) -> None:
    (tmp_path / "stack" / ".age-recipients").unlink()
    refused = hostform("secrets", "edit", str(tmp_path / "stack" / "secrets.env.age"), env={**keys, "EDITOR": "true"})
    assert refused.returncode == 1 and "no usable age recipients file" in refused.stderr
