"""`secrets = [...]`: read as secret('NAME') reads, made into files the rest of hostform copies,
never stored; errors name the key."""

from __future__ import annotations

import json
from pathlib import Path

from hostform.declare.canonical import service_spec
from hostform.declare.load import load
from hostform.declare.secrets import UnknownSecret, reveal
from tests.unit.test_load import load_ok, only, problems, write

APP = '[containers.app]\nimage = "x"\n'


def test_an_entry_becomes_a_secret_file_at_its_target(tmp_path: Path) -> None:
    body = APP + 'secrets = [{ source = "DB_PW", target = "/run/secrets/db", mode = "0400" }, "TOKEN"]\n'
    loaded = load_ok(tmp_path, body, environ={"DB_PW": "hunter2", "TOKEN": "t0k"})
    files = {f.target: (f.source, f.mode) for f in loaded.stack.containers["app"].files}
    assert files == {"/run/secrets/db": ("secret.DB_PW", 0o400), "/run/secrets/TOKEN": ("secret.TOKEN", 0o444)}
    assert loaded.files["secret.DB_PW"].is_secret and reveal(loaded.files["secret.DB_PW"].content) == "hunter2"
    spec = json.dumps(service_spec(loaded, "app", b"k" * 16))
    assert "hunter2" not in spec and "t0k" not in spec and '"secrets"' not in spec


def test_the_value_may_come_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("from-file\n", encoding="utf-8")
    loaded = load_ok(tmp_path, APP + 'secrets = ["DB_PW"]\n', environ={"DB_PW_FILE": str(tmp_path / "pw")})
    assert loaded.files["secret.DB_PW"].data == b"from-file"


def test_an_unset_secret_names_the_key(tmp_path: Path) -> None:
    p = only(tmp_path, APP + 'secrets = [{ source = "DB_PW", target = "/run/secrets/db" }]\n')
    assert p.key == "containers.app.secrets[0].source" and "DB_PW" in p.message


def test_an_unset_secret_stands_for_what_was_applied_when_optional(tmp_path: Path) -> None:
    loaded = load(write(tmp_path, APP + 'secrets = ["DB_PW"]\n'), environ={}, secrets_optional=True)
    assert isinstance(loaded.files["secret.DB_PW"].content, UnknownSecret)


def test_a_source_that_is_not_a_name_is_refused(tmp_path: Path) -> None:
    p = only(tmp_path, APP + 'secrets = [{ source = "db-pw" }]\n')
    assert p.key == "containers.app.secrets[0].source" and "not a secret's name" in p.message


def test_a_target_shared_with_a_file_is_refused(tmp_path: Path) -> None:
    body = (
        '[files.c]\ncontent = "x"\n\n'
        + APP
        + 'files = [{ source = "c", target = "/run/secrets/A" }]\nsecrets = ["A"]\n'
    )
    found = problems(tmp_path, body, environ={"A": "v"})
    assert any("share the target '/run/secrets/A'" in p.message for p in found)


def test_a_read_only_container_on_one_host_cannot_take_the_copy(tmp_path: Path) -> None:
    p = only(tmp_path, APP + 'read_only = true\nsecrets = ["A"]\n', environ={"A": "v"})
    assert p.key == "containers.app.secrets[0].target" and "read_only" in p.message


def test_a_files_key_in_the_secrets_namespace_is_refused(tmp_path: Path) -> None:
    body = '[files."secret.A"]\ncontent = "x"\n\n' + APP + 'secrets = ["A"]\n'
    p = only(tmp_path, body, environ={"A": "v"})
    assert p.key == "files.secret.A" and "secrets" in p.message
