"""`hostform import compose` keeps what a Compose file means: secrets only where they are secrets,
one error line for an odd input, never an input written over, names that template nothing else."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from hostform.declare.load import load
from hostform.plans.cli import main
from hostform.plans.compose_import import import_compose


def imported(folder: Path, text: str) -> tuple[dict, dict[str, str], str]:  # type: ignore[type-arg]
    (folder / "docker-compose.yml").write_text(text, encoding="utf-8")
    out, _, secrets = import_compose([str(folder / "docker-compose.yml")], str(folder / "hostform.toml"))
    return tomllib.loads(out), secrets, out


ENV = """services:
  db:
    image: mysql:8
    environment:
      MYSQL_ROOT_PASSWORD_FILE: /run/secrets/db-password
      MYSQL_PASSWORD: hunter2-literal
      PASSWORD_MIN_LENGTH: 8
      TOKEN_TTL: 3600
      TOKEN_URL: https://auth.example.test/token
      SECRET_STORE: ./data/secrets
      ALLOW_EMPTY_PASSWORD: "yes"
      KEYCLOAK_ENABLED: true
      API_KEY: 9f8e7d6c5b4a39281706f5e4d3c2b1a0
      DATABASE_URL: postgres://app:db-pw-literal@db/app
      TOKEN_HOOK: https://user:hook-pw@hooks.example.test/x
      PLAIN: value
"""


def test_file_variables_and_visibly_plain_values_stay_plain(tmp_path: Path) -> None:
    stack, secrets, out = imported(tmp_path, ENV)
    env = stack["containers"]["db"]["env"]
    assert env["MYSQL_ROOT_PASSWORD_FILE"] == "/run/secrets/db-password"
    assert env["PASSWORD_MIN_LENGTH"] == "8" and env["TOKEN_TTL"] == "3600"
    assert env["TOKEN_URL"] == "https://auth.example.test/token"
    assert env["SECRET_STORE"] == "./data/secrets"
    assert env["ALLOW_EMPTY_PASSWORD"] == "yes" and env["KEYCLOAK_ENABLED"] == "true"
    assert env["PLAIN"] == "value"
    assert env["MYSQL_PASSWORD"] == "{{ secret('MYSQL_PASSWORD') }}"
    assert env["API_KEY"] == "{{ secret('API_KEY') }}"
    assert env["DATABASE_URL"] == "{{ secret('DATABASE_URL') }}"  # a password in a URL: whatever the name
    assert env["TOKEN_HOOK"] == "{{ secret('TOKEN_HOOK') }}"
    assert set(secrets) == {"MYSQL_PASSWORD", "API_KEY", "DATABASE_URL", "TOKEN_HOOK"}
    for value in ("hunter2-literal", "9f8e7d6c5b4a", "db-pw-literal", "hook-pw"):
        assert value not in out


def test_the_notes_say_which_became_secrets_and_why(tmp_path: Path) -> None:
    _, secrets, out = imported(tmp_path, ENV)
    assert secrets["MYSQL_PASSWORD"].endswith("(services.db.environment.MYSQL_PASSWORD: its name holds PASSWORD)")
    assert "its value is a URL with a password in it" in secrets["DATABASE_URL"]
    header = out.split("[stack]")[0]
    assert "#   MYSQL_PASSWORD: set MYSQL_PASSWORD" in header
    assert "services.db.environment.MYSQL_ROOT_PASSWORD_FILE: names a file the program reads" in header
    assert "services.db.environment.TOKEN_URL: its value is a URL without credentials, kept as it is" in header


def test_an_interpolated_file_variable_stays_a_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD_FILE", "/run/secrets/db")
    monkeypatch.setenv("DB_PASSWORD", "pw-from-env")
    text = (
        "services:\n  db:\n    image: a\n    environment:\n      A_FILE: ${DB_PASSWORD_FILE}\n      B: ${DB_PASSWORD}\n"
    )
    stack, secrets, out = imported(tmp_path, text)
    env = stack["containers"]["db"]["env"]
    assert env == {"A_FILE": "{{ vars.DB_PASSWORD_FILE }}", "B": "{{ secret('DB_PASSWORD') }}"}
    assert stack["vars"] == {"DB_PASSWORD_FILE": "/run/secrets/db"}
    assert set(secrets) == {"DB_PASSWORD"} and "pw-from-env" not in out


def test_a_key_cannot_template_another_secret(tmp_path: Path) -> None:
    """The key of the report: the stack reads the one secret the notes name, nothing else."""
    key = "DB_PASSWORD') if 0 else secret('AWS_SECRET_ACCESS_KEY"
    text = f'services:\n  s:\n    image: a\n    environment:\n      "{key}": x\n      "A\\nB_TOKEN": y\n'
    stack, secrets, out = imported(tmp_path, text)
    safe = "DB_PASSWORD___if_0_else_secret__AWS_SECRET_ACCESS_KEY"
    assert stack["containers"]["s"]["env"][key] == "{{ secret('" + safe + "') }}"
    assert set(secrets) == {safe, "A_B_TOKEN"}
    (tmp_path / "hostform.toml").write_text(out, encoding="utf-8")
    loaded = load(
        tmp_path / "hostform.toml",
        environ={safe: "value-one-x7", "A_B_TOKEN": "value-two-x7", "AWS_SECRET_ACCESS_KEY": "value-aws-x7"},
    )
    env = loaded.stack.containers["s"].env
    assert env[key].reveal() == "value-one-x7" and env["A\nB_TOKEN"].reveal() == "value-two-x7"  # type: ignore[union-attr]


def test_a_newline_in_a_name_cannot_end_a_comment(tmp_path: Path) -> None:
    text = 'services:\n  s:\n    image: a\n    environment:\n      "X_TOKEN\\n[containers.evil]\\n#": v\n'
    stack, secrets, out = imported(tmp_path, text)
    assert set(stack) == {"stack", "containers"} and set(stack["containers"]) == {"s"}
    assert list(stack["containers"]["s"]["env"]) == ["X_TOKEN\n[containers.evil]\n#"]
    assert "X_TOKEN\\n[containers.evil]\\n#: its name holds TOKEN" in out


# The odd but parseable inputs of the report, and more of the kind: one error line each.
ODD = {
    "services: [1,2]\n": "services: expected",
    "services:\n  web: 5\n": "services.web: expected",
    "services:\n  web:\n    image: a\n    depends_on: 5\n": "services.web.depends_on: expected",
    "services:\n  web:\n    image: a\n    depends_on: {db: 5}\n  db:\n    image: b\n": "services.web.depends_on.db",
    "services:\n  web:\n    image: a\n    networks: {n: {aliases: 5}}\nnetworks:\n  n: {}\n": "aliases: expected",
    'services:\n  web:\n    image: a\n    cpus: "lots"\n': "services.web.cpus: cpus 'lots' is not a number",
    "services:\n  web:\n    image: a\nvolumes: [a, b]\n": "volumes: expected",
    "services:\n  web:\n    image: a\nnetworks: {n: 5}\n": "networks.n: expected",
    "services:\n  web:\n    image: a\n    user: !!binary aGVsbG8=\n": "services.web.user: a YAML bytes",
    "services:\n  web:\n    image: a\n    tmpfs: !!set {a, b}\n": "services.web.tmpfs: a YAML set",
    "services:\n  web:\n    image: a\n    profiles: 5\n": "services.web.profiles: expected",
    "services:\n  web:\n    image: a\n    environment: 5\n": "services.web.environment: expected",
    "services:\n  web:\n    image: a\n    healthcheck: {test: 5}\n": "services.web.healthcheck.test: expected",
    "services:\n  web:\n    image: a\n    deploy: {resources: {limits: 5}}\n": "deploy.resources.limits: expected",
    "services:\n  web:\n    image: a\n    env_file: [{}]\n": "services.web.env_file.0: expected",
    "services:\n  web:\n    image: a\n    ulimits: {nofile: {soft: 1}}\n": "services.web.ulimits.nofile: expected",
    "services:\n  web:\n    image: a\n    true: 2\n": "a key must be a name",
}


@pytest.mark.parametrize(("text", "said"), list(ODD.items()))
def test_an_odd_input_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, said: str
) -> None:
    (tmp_path / "docker-compose.yml").write_text(text, encoding="utf-8")
    assert main(["import", "compose", str(tmp_path / "docker-compose.yml")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: docker-compose.yml:"), err
    assert said in err


def test_an_integer_service_name_is_a_name(tmp_path: Path) -> None:
    stack, _, _ = imported(tmp_path, "services:\n  5:\n    image: a\n")
    assert stack["containers"] == {"5": {"image": "a"}}


def test_output_is_never_an_input_nor_an_existing_file_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    compose = tmp_path / "docker-compose.yml"
    text = "services:\n  s:\n    image: a\n"
    compose.write_text(text, encoding="utf-8")
    (tmp_path / "link.toml").symlink_to(compose)
    os.link(compose, tmp_path / "hard.toml")
    for out in (compose, tmp_path / "link.toml", tmp_path / "hard.toml"):
        assert main(["import", "compose", str(compose), "-o", str(out), "--force"]) == 1
        assert "which the import reads: write elsewhere" in capsys.readouterr().err
    assert compose.read_text() == text
    common = tmp_path / "common.yml"
    common.write_text("services:\n  base:\n    image: b\n", encoding="utf-8")
    compose.write_text("services:\n  s:\n    extends: {file: common.yml, service: base}\n", encoding="utf-8")
    assert main(["import", "compose", str(compose), "-o", str(common), "--force"]) == 1
    assert "is common.yml, which the import reads" in capsys.readouterr().err
    target = tmp_path / "hostform.toml"
    target.write_text("# mine\n", encoding="utf-8")
    assert main(["import", "compose", str(compose), "-o", str(target)]) == 1
    assert "hostform.toml: exists: --force replaces it" in capsys.readouterr().err
    assert target.read_text() == "# mine\n"
    assert main(["import", "compose", str(compose), "-o", str(target), "--force"]) == 0
    assert tomllib.loads(target.read_text())["containers"]["s"]["image"] == "b"
