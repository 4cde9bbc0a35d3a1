"""A Compose project with its values in `.env`, imported into its folder, plans and applies on
the real engine without anything exported by hand; pass-through variables are read at plan time."""

from __future__ import annotations

import pytest

from tests.integration.conftest import BUSYBOX, StackFixture, run_cli

COMPOSE = f"""
services:
  web:
    image: {BUSYBOX}
    command: ["sleep", "600"]
    stop_signal: SIGKILL
    environment:
      - MODE=${{MODE}}
      - DB_PASSWORD=${{DB_PASSWORD}}
      - DEBUG
"""
PASSWORD = "pw-from-dotenv-7f3a"


def test_an_imported_project_runs_with_its_dot_env(stack: StackFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MODE", "DB_PASSWORD", "DEBUG"):  # nothing exported by hand
        monkeypatch.delenv(name, raising=False)
    (stack.dir / "docker-compose.yml").write_text(COMPOSE)
    (stack.dir / ".env").write_text(f"MODE=prod\nDB_PASSWORD={PASSWORD}\n")
    env = dict(stack.env)
    imported = run_cli(
        "import", "compose", "docker-compose.yml", "-o", "hostform.toml", "-p", stack.name, cwd=stack.dir, env=env
    )
    assert imported.code == 0, imported.both
    text = stack.file.read_text()
    assert PASSWORD not in text and "{{ secret('DB_PASSWORD') }}" in text
    assert "{{ env('DEBUG', default='') }}" in text
    planned = run_cli("plan", str(stack.file), cwd=stack.dir, env={**env, "DEBUG": "on"})
    assert planned.code == 0 and PASSWORD not in planned.both, planned.both
    applied = run_cli("apply", str(stack.file), "--auto-approve", cwd=stack.dir, env={**env, "DEBUG": "on"})
    assert applied.code == 0 and PASSWORD not in applied.both, applied.both
    live = dict(e.split("=", 1) for e in stack.inspect(f"{stack.name}-web")["Config"]["Env"])
    assert (live["MODE"], live["DB_PASSWORD"], live["DEBUG"]) == ("prod", PASSWORD, "on")
