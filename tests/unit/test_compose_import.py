"""Compose files read, interpolated, merged and written as a stack (no engine)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from hostform.declare.compose import load_compose
from hostform.declare.errors import StackError
from hostform.declare.load import load
from hostform.declare.secrets import reveal
from hostform.plans.cli import main
from hostform.plans.compose_import import import_compose

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "compose"


def write(folder: Path, text: str, name: str = "docker-compose.yml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def stack_of(folder: Path, text: str, **kw: object) -> dict:  # type: ignore[type-arg]
    write(folder, text)
    out, _, _ = import_compose([str(folder / "docker-compose.yml")], str(folder / "hostform.toml"), **kw)  # type: ignore[arg-type]
    return tomllib.loads(out)


@pytest.mark.parametrize(
    ("value", "env", "want_value", "want_template"),
    [
        ("${A}", {"A": "x"}, "x", "{{ vars.A }}"),
        ("$A-b", {"A": "x"}, "x-b", "{{ vars.A }}-b"),
        ("${A:-d}", {"A": ""}, "d", "{{ vars.A }}"),
        ("${A-d}", {"A": ""}, "", "{{ vars.A }}"),
        ("${A-d}", {}, "d", "{{ vars.A }}"),
        ("${A:+yes}", {"A": "1"}, "yes", "yes"),
        ("${A:+yes}", {}, "", ""),
        ("$$HOME", {}, "$HOME", "$HOME"),
        ("${A:-${B}}", {"B": "b"}, "b", "{{ vars.A }}"),
        ("pw=${DB_PASSWORD}", {"DB_PASSWORD": "s3"}, "pw=s3", "pw={{ secret('DB_PASSWORD') }}"),
        ("{{x}}${A}", {"A": "1"}, "{{x}}1", "{{ '{{' }}x}}{{ vars.A }}"),
    ],
)
def test_interpolation(tmp_path: Path, value: str, env: dict[str, str], want_value: str, want_template: str) -> None:
    write(tmp_path, f"services:\n  s:\n    image: i\n    labels:\n      v: '{value}'\n")
    project = load_compose([tmp_path / "docker-compose.yml"], environ=env)
    got = project.services["s"]["labels"]["v"]
    assert got == want_value
    assert getattr(got, "template", got) == want_template or (got == want_value == want_template)


def test_required_variable_names_file_line_and_key(tmp_path: Path) -> None:
    write(tmp_path, "services:\n  s:\n    image: i\n    environment:\n      X: ${NEED:?set NEED}\n")
    with pytest.raises(StackError) as exc:
        load_compose([tmp_path / "docker-compose.yml"], environ={})
    assert (
        str(exc.value)
        == "docker-compose.yml:5: services.s.environment.X: required variable NEED is missing a value: set NEED"
    )


def test_dot_env_beside_the_file_and_the_shell_wins(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("PORT=8001\nTAG=2\n")
    out = stack_of(tmp_path, "services:\n  s:\n    image: b:${TAG}\n    ports: ['${PORT}:80']\n")
    assert out["containers"]["s"]["ports"] == ["{{ vars.PORT }}:80"]
    project = load_compose([tmp_path / "docker-compose.yml"], environ={"TAG": "3"})
    assert project.variables == {"PORT": "8001", "TAG": "3"}


def test_files_merge_in_order(tmp_path: Path) -> None:
    write(tmp_path, "services:\n  s:\n    image: a\n    ports: ['1:1']\n    environment: [A=1, B=1]\n")
    write(tmp_path, "services:\n  s:\n    image: b\n    ports: ['2:2']\n    environment: {B: 2}\n", "over.yml")
    project = load_compose([tmp_path / "docker-compose.yml", tmp_path / "over.yml"], environ={})
    s = project.services["s"]
    assert (s["image"], s["ports"], s["environment"]) == ("b", ["1:1", "2:2"], {"A": "1", "B": 2})
    assert str(project.source(("services", "s", "image"))) == "over.yml:3"
    assert str(project.source(("services", "s"))) == "docker-compose.yml:2"


def test_extends_from_another_file(tmp_path: Path) -> None:
    write(tmp_path, "services:\n  base:\n    image: a\n    environment: {A: '1'}\n", "common.yml")
    write(tmp_path, "services:\n  s:\n    extends: {file: common.yml, service: base}\n    environment: {B: '2'}\n")
    project = load_compose([tmp_path / "docker-compose.yml"], environ={})
    assert project.services["s"]["image"] == "a"
    assert project.services["s"]["environment"] == {"A": "1", "B": "2"}


def test_profiles_leave_services_out_unless_enabled(tmp_path: Path) -> None:
    text = "services:\n  s:\n    image: a\n  dbg:\n    image: a\n    profiles: [debug]\n"
    assert "dbg" not in stack_of(tmp_path, text)["containers"]
    assert "dbg" in stack_of(tmp_path, text, profiles=["debug"])["containers"]


def test_completed_dependency_makes_a_job(tmp_path: Path) -> None:
    text = (
        "services:\n  mig:\n    image: a\n    restart: always\n  web:\n    image: a\n"
        "    depends_on:\n      mig: {condition: service_completed_successfully}\n"
    )
    out = stack_of(tmp_path, text)
    assert out["jobs"]["mig"] == {"image": "a"}
    assert out["containers"]["web"]["depends_on"] == {"mig": "completed"}


def test_secrets_never_in_the_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        "services:\n  s:\n    image: a\n    environment:\n      POSTGRES_PASSWORD: literal-pw\n"
        "      URL: 'x://u:${DB_PASSWORD}@h'\n      API_TOKEN:\n"
    )
    write(tmp_path, text)
    monkeypatch.setenv("DB_PASSWORD", "from-env-pw")
    monkeypatch.setenv("API_TOKEN", "tok-value")
    project_out, _, secrets = import_compose([str(tmp_path / "docker-compose.yml")], None)
    for value in ("literal-pw", "from-env-pw", "tok-value"):
        assert value not in project_out
    assert set(secrets) == {"POSTGRES_PASSWORD", "DB_PASSWORD", "API_TOKEN"}


def test_unsupported_keys_are_listed_with_the_nearest_way(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "services:\n  s:\n    image: a\n    cpu_shares: 512\n    dns_opt: [use-vc]\n    expose: [80]\n")
    assert main(["import", "compose", str(tmp_path / "docker-compose.yml"), "-o", str(tmp_path / "s.toml")]) == 0
    err = capsys.readouterr().err
    assert "services.s.cpu_shares (docker-compose.yml:4): not supported; `cpus` limits CPU" in err
    assert "services.s.dns_opt (docker-compose.yml:5)" in err
    text = (tmp_path / "s.toml").read_text()
    assert "#   services.s.expose (docker-compose.yml:6)" in text


def test_bad_yaml_is_one_error_with_a_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, "services:\n  s:\n    image: [a\n")
    assert main(["import", "compose", str(tmp_path / "docker-compose.yml")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and ":4: not valid YAML" in err and "Traceback" not in err


@pytest.mark.parametrize("target", ["host", "swarm"])
@pytest.mark.parametrize("folder", sorted(p.name for p in CORPUS.iterdir() if (p / "docker-compose.yml").is_file()))
def test_corpus_imports_to_a_valid_stack_the_same_each_time(tmp_path: Path, folder: str, target: str) -> None:
    import shutil

    shutil.copytree(CORPUS / folder, tmp_path / folder)
    base = tmp_path / folder
    files = [str(base / "docker-compose.yml"), *sorted(str(p) for p in base.glob("docker-compose.*.yml"))]
    out = base / "hostform.toml"
    first, _, secrets = import_compose(files, str(out), target=target)
    second, _, _ = import_compose(files, str(out), target=target)
    assert first == second
    out.write_text(first)
    env = {name: "set-for-the-test" for name in secrets}
    loaded = load(out, environ=env)
    assert loaded.stack.containers


DEPLOY = """services:
  s:
    image: a
    ports: ["127.0.0.1:8080:80"]
    deploy:
      mode: global
      placement: {constraints: [node.role == worker], preferences: [{spread: node.labels.zone}]}
      resources: {reservations: {memory: 64M, cpus: "0.5"}}
      update_config: {order: start-first, parallelism: 2, delay: 10s, failure_action: pause}
      rollback_config: {parallelism: 1}
"""


def test_deploy_on_swarm_maps_the_swarm_keys(tmp_path: Path) -> None:
    s = stack_of(tmp_path, DEPLOY, target="swarm")["containers"]["s"]
    assert s["global"] is True
    assert s["placement"] == {"constraints": ["node.role == worker"], "preferences": [{"spread": "node.labels.zone"}]}
    assert s["reservations"] == {"memory": "64M", "cpus": 0.5}
    assert s["update"] == {"order": "start-first", "parallelism": 2, "delay": "10s", "failure_action": "pause"}
    assert s["rollback"] == {"parallelism": 1}
    assert s["ports"] == ["8080:80"]


def test_deploy_on_one_host_lists_the_swarm_keys(tmp_path: Path) -> None:
    write(tmp_path, DEPLOY)
    out, skipped, _ = import_compose([str(tmp_path / "docker-compose.yml")], None)
    s = tomllib.loads(out)["containers"]["s"]
    assert s["memory_reservation"] == "64M" and "update" not in s  # start-first needs no fixed host port
    assert any(x.key == "services.s.deploy.update_config.order" for x in skipped)
    hinted = {x.key for x in skipped if "--on swarm" in x.reason}
    assert {"services.s.deploy.placement", "services.s.deploy.mode", "services.s.deploy.rollback_config"} <= hinted
    assert "services.s.deploy.update_config.parallelism" in hinted


def test_a_secret_outside_env_is_listed_not_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_PASSWORD", "pw-value")
    write(tmp_path, "include: [other.yml]\nservices:\n  s:\n    image: a\n    command: run --pw ${DB_PASSWORD}\n")
    out, skipped, _ = import_compose([str(tmp_path / "docker-compose.yml")], None)
    assert "pw-value" not in out and "command" not in tomllib.loads(out)["containers"]["s"]
    reasons = {x.key: x.reason for x in skipped}
    assert reasons["services.s.command"].startswith("holds the secret ${DB_PASSWORD}")
    assert reasons["include"] == "merge the files it names with -f"


SECRETS = """services:
  s:
    image: a
    secrets:
      - db_pw
      - source: api-token
        target: token
        mode: 0440
      - source: tls_key
        target: /etc/tls/site.key
      - outside
secrets:
  db_pw:
    file: ./db_pw.txt
  api-token:
    environment: APP_TOKEN
  tls_key:
    file: ./site.key
  outside:
    external: true
"""


@pytest.mark.parametrize("target", ["host", "swarm"])
def test_service_secrets_become_the_secrets_key_never_a_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    """Short and long syntax: the source is the secret's name, the target written out (Compose's
    default is /run/secrets/<key>), the mode kept; no [files] entry, no value, the same bytes twice."""
    (tmp_path / "db_pw.txt").write_text("pw-in-a-file\n", encoding="utf-8")
    (tmp_path / "site.key").write_text("key-in-a-file\n", encoding="utf-8")
    monkeypatch.setenv("APP_TOKEN", "token-in-env")
    write(tmp_path, SECRETS)
    args = ([str(tmp_path / "docker-compose.yml")], str(tmp_path / "hostform.toml"))
    out, skipped, secrets = import_compose(*args, target=target)
    assert out == import_compose(*args, target=target)[0]
    for value in ("pw-in-a-file", "key-in-a-file", "token-in-env"):
        assert value not in out
    stack = tomllib.loads(out)
    assert "files" not in stack and "files" not in stack["containers"]["s"]
    assert stack["containers"]["s"]["secrets"] == [
        {"source": "DB_PW", "target": "/run/secrets/db_pw"},
        {"source": "APP_TOKEN", "target": "/run/secrets/token", "mode": "0440"},
        {"source": "TLS_KEY", "target": "/etc/tls/site.key"},
    ]
    assert secrets == {"APP_TOKEN": "set APP_TOKEN (or APP_TOKEN_FILE) when you plan and apply"}
    # a file secret reads its file: nothing to set for it
    assert stack["secrets"] == {"DB_PW": {"file": "./db_pw.txt"}, "TLS_KEY": {"file": "./site.key"}}
    reasons = {x.key: x.reason for x in skipped}
    assert reasons["secrets.outside"].startswith("external secrets are Swarm's")
    assert reasons["services.s.secrets.outside"] == "secret 'outside' is not imported (see secrets.outside)"
    (tmp_path / "hostform.toml").write_text(out, encoding="utf-8")
    loaded = load(tmp_path / "hostform.toml", environ={"APP_TOKEN": "app-token-value"})
    assert reveal(loaded.files["secret.DB_PW"].content) == "pw-in-a-file"
    assert [(s.source, s.target, s.mode) for s in loaded.stack.containers["s"].secrets] == [
        ("DB_PW", "/run/secrets/db_pw", 0o444),
        ("APP_TOKEN", "/run/secrets/token", 0o440),
        ("TLS_KEY", "/etc/tls/site.key", 0o444),
    ]
