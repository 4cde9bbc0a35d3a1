"""What a Compose user brings: Compose's key names get a hint (what to write, or why there is
none); a `.env` next to the stack gives values to env() and secret(), as Compose reads it; an
imported `environment: [KEY]` is passed through, read at plan time."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostform.declare.canonical import canonical_json, service_spec
from hostform.declare.errors import StackError
from hostform.declare.load import load
from hostform.plans.compose_import import import_compose

HEAD = '[stack]\nname = "c"\n\n[containers.web]\nimage = "busybox:1"\n'


def _problems(tmp_path: Path, body: str) -> dict[str, str]:
    path = tmp_path / "hostform.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(StackError) as refused:
        load(path, environ={})
    return {p.key: p.message for p in refused.value.problems}


@pytest.mark.parametrize(
    ("key", "hint"),
    [
        ('environment = { A = "1" }', "Compose's `environment` is `env` here"),
        ('mem_limit = "1g"', "Compose's `mem_limit` is `memory` here"),
        ('container_name = "web1"', 'write adopt = "its-name"'),
        ("cpu_shares = 512", "`cpus` sets a limit"),
        ('expose = ["80"]', "not needed: containers on a stack network reach each other on every port"),
        ('links = ["db"]', "not needed: containers reach each other by name"),
    ],
)
def test_compose_spellings_say_what_to_write(tmp_path: Path, key: str, hint: str) -> None:
    name = key.split(" ", 1)[0]
    (message,) = _problems(tmp_path, HEAD + key + "\n").values()
    assert message.startswith(f"unknown key {name!r} in containers.web; ") and hint in message, message
    assert "did you mean" not in message  # mem_limit used to suggest pids_limit


def test_compose_spellings_at_the_top_and_in_networks(tmp_path: Path) -> None:
    found = _problems(tmp_path, 'version = "3.8"\n' + HEAD + "\n[networks.n]\ndriver_opts = {}\n")
    assert "not needed: remove it" in found["version"]
    assert "Compose's `driver_opts` are `options` here" in found["networks.n.driver_opts"]


def test_a_typo_still_gets_the_nearest_key(tmp_path: Path) -> None:
    (message,) = _problems(tmp_path, HEAD + 'imgae = "x"\n').values()
    assert message.endswith("did you mean 'image'?")


ENV_STACK = HEAD.replace('name = "c"\n', 'name = "c"\nenv = ["MODE"]\n') + (
    "env = { MODE = \"{{ env('MODE') }}\", PW = \"{{ secret('DB_PASSWORD') }}\" }\n"
)


def test_dot_env_gives_values_to_env_and_secret(tmp_path: Path) -> None:
    (tmp_path / "hostform.toml").write_text(ENV_STACK, encoding="utf-8")
    (tmp_path / ".env").write_text('# Compose keeps values here\nMODE=prod\nDB_PASSWORD="s3cret-dotenv"\n')
    loaded = load(tmp_path / "hostform.toml", environ={})
    spec = canonical_json(service_spec(loaded, "web", key=b"k" * 32))
    assert '"MODE":"prod"' in spec.replace(" ", "")
    assert "s3cret-dotenv" not in spec and "s3cret-dotenv" not in repr(loaded)  # a secret: only its digest


def test_the_environment_wins_over_dot_env_and_x_file_there_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "hostform.toml").write_text(ENV_STACK, encoding="utf-8")
    (tmp_path / ".env").write_text("MODE=prod\nDB_PASSWORD_FILE=/etc/hostname\n")
    loaded = load(tmp_path / "hostform.toml", environ={"MODE": "dev", "DB_PASSWORD": "pw-from-the-environment"})
    assert '"MODE":"dev"' in canonical_json(service_spec(loaded, "web", key=b"k" * 32)).replace(" ", "")
    with pytest.raises(StackError) as refused:  # X_FILE from .env would read any file: never used
        load(tmp_path / "hostform.toml", environ={"MODE": "dev"})
    assert "secret 'DB_PASSWORD' is not set" in str(refused.value)
    assert "or DB_PASSWORD in .env next to the stack file" in str(refused.value)


def test_without_dot_env_an_unset_variable_says_where_to_set_it(tmp_path: Path) -> None:
    found = _problems(tmp_path, ENV_STACK)
    assert "in the environment or in .env next to the stack file" in found["containers.web.env.MODE"]


def test_import_keeps_pass_through_variables_read_at_plan_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_TOKEN", raising=False)
    monkeypatch.delenv("DEBUG", raising=False)
    compose = tmp_path / "docker-compose.yml"
    compose.write_text("services:\n  web:\n    image: busybox:1\n    environment: [API_TOKEN, DEBUG]\n")
    out = tmp_path / "hostform.toml"
    text, skipped, secrets = import_compose([str(compose)], str(out))
    assert not [s for s in skipped if "environment" in str(s)], skipped
    assert "API_TOKEN = \"{{ secret('API_TOKEN') }}\"" in text and "API_TOKEN" in secrets
    assert "DEBUG = \"{{ env('DEBUG', default='') }}\"" in text
    assert 'env = ["DEBUG"]' in text
    out.write_text(text, encoding="utf-8")
    loaded = load(out, environ={"API_TOKEN": "t0k-read-at-plan-time", "DEBUG": "1"})  # read now, at plan time
    spec = canonical_json(service_spec(loaded, "web", key=b"k" * 32)).replace(" ", "")
    assert '"DEBUG":"1"' in spec and "t0k-read-at-plan-time" not in spec
