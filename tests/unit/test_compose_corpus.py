"""Compose projects in the shapes public example projects use (tests/fixtures/compose/corpus/):
each imports to a stack that validates without any secret's value, holds no secret's value,
and keeps every `*_FILE` variable a plain value (the path the image reads the secret from)."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from hostform.declare.load import load
from hostform.plans.compose_import import import_compose

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "compose" / "corpus"
PROJECTS = sorted(p.name for p in CORPUS.iterdir() if (p / "compose.yaml").is_file())
SECRET_VALUES = ("somewordpress", "wordpress-pw", "changeme-es", "redis-literal-pw", "not-a-real")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(str(e).partition("=")[::2] for e in env)
    return {str(k): str(v) for k, v in env.items()}


def imported(tmp_path: Path, project: str) -> tuple[dict[str, Any], str, dict[str, str]]:
    folder = tmp_path / project
    shutil.copytree(CORPUS / project, folder)
    out, _, secrets = import_compose([str(folder / "compose.yaml")], str(folder / "hostform.toml"))
    (folder / "hostform.toml").write_text(out, encoding="utf-8")
    return tomllib.loads(out), out, secrets


def test_the_corpus_is_there() -> None:
    assert len(PROJECTS) >= 10


@pytest.mark.parametrize("project", PROJECTS)
def test_imports_and_validates_without_secret_values(
    tmp_path: Path, project: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("POSTGRES_PW", "PGADMIN_PW", "KIBANA_TOKEN", "PLEX_CLAIM_TOKEN", "NC_ADMIN_PW"):
        monkeypatch.delenv(name, raising=False)
    stack, text, _ = imported(tmp_path, project)
    for value in SECRET_VALUES:
        assert value not in text
    loaded = load(tmp_path / project / "hostform.toml", environ={}, secrets_optional=True)
    assert loaded.stack.services()


@pytest.mark.parametrize("project", PROJECTS)
def test_file_variables_stay_plain_values(tmp_path: Path, project: str) -> None:
    compose = yaml.safe_load((CORPUS / project / "compose.yaml").read_text(encoding="utf-8"))
    stack, _, secrets = imported(tmp_path, project)
    services = {**stack.get("containers", {}), **stack.get("jobs", {})}
    for name, service in compose["services"].items():
        for key, value in environment(service).items():
            if key.endswith("_FILE"):
                assert services[name]["env"][key] == value, (project, name, key)
                assert key not in secrets


def test_the_corpus_uses_the_file_convention_and_the_host_settings() -> None:
    """What the corpus is for: the `*_FILE` convention, and the keys real stacks use."""
    files, keys = 0, set()
    for project in PROJECTS:
        compose = yaml.safe_load((CORPUS / project / "compose.yaml").read_text(encoding="utf-8"))
        for service in compose["services"].values():
            files += sum(1 for k in environment(service) if k.endswith("_FILE"))
            keys.update(service)
    assert files >= 6
    assert {"ulimits", "sysctls", "logging", "network_mode", "devices", "dns", "shm_size", "init"} <= keys


def test_what_became_secrets_and_what_stayed_plain(tmp_path: Path) -> None:
    stack, text, secrets = imported(tmp_path, "wordpress-mysql")
    assert set(secrets) == {"MYSQL_ROOT_PASSWORD", "MYSQL_PASSWORD", "WORDPRESS_DB_PASSWORD"}
    stack, text, secrets = imported(tmp_path, "media-server")
    assert stack["containers"]["plex"]["network_mode"] == "host"
    assert stack["containers"]["plex"]["env"]["ADVERTISE_IP"] == "http://192.168.1.10:32400/"
    assert stack["containers"]["transcoder-gpu"]["gpus"] == 1
    assert set(secrets) == {"PLEX_CLAIM_TOKEN"}
