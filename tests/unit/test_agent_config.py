"""The agent's configuration: defaults, and one line naming the file, line and key per mistake."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostform.declare.agent_config import DEFAULT_LISTEN, load_agent_config, parse_listen
from hostform.declare.errors import StackError
from hostform.runtime.git import glob_matches, repository_address, shown_url

GOOD = """
[[sources]]
repo = "https://git.example.test/ops/infra.git"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(StackError) as caught:
        load_agent_config(write(tmp_path, text))
    return caught.value.lines()


def test_defaults(tmp_path: Path) -> None:
    config = load_agent_config(write(tmp_path, GOOD))
    assert config.listen == DEFAULT_LISTEN == "127.0.0.1:9480"
    assert config.address == ("127.0.0.1", 9480)
    assert config.interval == 60.0
    source = config.sources[0]
    assert (source.branch, source.mode, source.self_heal, source.prune) == ("main", "apply", True, False)
    assert source.shown_name == "infra"
    assert config.notify.webhook is None


def test_a_full_configuration(tmp_path: Path) -> None:
    text = """
listen = "[::1]:19999"
interval = "2m"

[[sources]]
name = "ops"
repo = "git@git.example.test:ops/infra.git"
branch = "release/2"
stacks = ["stacks/*/hostform.toml", "apps/**/hostform.toml"]
mode = "plan"
self_heal = false
prune = true
webhook_secret_env = "HF_HOOK_SECRET"

[notify]
webhook = "https://chat.example.test/hooks/xyz"
"""
    config = load_agent_config(write(tmp_path, text))
    assert config.address == ("::1", 19999)
    assert config.interval == 120.0
    assert config.sources[0].mode == "plan"
    assert config.sources[0].stacks[1] == "apps/**/hostform.toml"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('interval = "2s"\n' + GOOD, "agent.toml:1: interval: must be at least 5s (got 2s)"),
        ('listen = "nowhere"\n' + GOOD, "agent.toml:1: listen: 'nowhere': expected HOST:PORT"),
        (
            'intreval = "10s"\n' + GOOD,
            "agent.toml:1: intreval: unknown key 'intreval' in the agent's configuration; did you mean 'interval'?",
        ),
        (GOOD + 'mode = "yolo"\n', "agent.toml:4: sources[0].mode: 'yolo' is not allowed"),
        (
            GOOD + 'brnach = "x"\n',
            "agent.toml:4: sources[0].brnach: unknown key 'brnach' in sources[0]; did you mean 'branch'?",
        ),
        (
            GOOD + 'stacks = ["../x/hostform.toml"]\n',
            "sources[0].stacks: '../x/hostform.toml': a glob inside the repository",
        ),
        (GOOD + 'branch = "-evil"\n', "sources[0].branch: '-evil' is not a branch name"),
        (GOOD + 'webhook_secret_env = "A-B"\n', "sources[0].webhook_secret_env: 'A-B' is not an environment"),
        ('[[sources]]\nrepo = "--upload-pack=x"\n', "sources[0].repo: '--upload-pack=x' is not a repository"),
        ('[[sources]]\nrepo = "ext::sh -c x"\n', "sources[0].repo: remote helpers"),
        ("sources = []\n", "sources: give at least one [[sources]]"),
        ('listen = "1.2.3.4:1"\n', "agent.toml: sources: is required"),
        (GOOD + '[notify]\nwebhook = "ftp://token@x/y"\n', "notify.webhook: 'ftp://x/...' is not an http"),
        ("interval = [\n", "agent.toml: invalid TOML"),
    ],
)
def test_one_line_naming_the_key(tmp_path: Path, text: str, expected: str) -> None:
    lines = problems(tmp_path, text)
    assert len(lines) == 1, lines
    shown = lines[0].replace(str(tmp_path) + "/", "")
    assert expected in shown, shown


def test_listen_parsing() -> None:
    assert parse_listen("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_listen("localhost:9480") == ("localhost", 9480)
    with pytest.raises(ValueError):
        parse_listen("example.test:80")


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("stacks/*/hostform.toml", "stacks/blog/hostform.toml", True),
        ("stacks/*/hostform.toml", "stacks/a/b/hostform.toml", False),
        ("**/hostform.toml", "hostform.toml", True),
        ("**/hostform.toml", "a/b/c/hostform.toml", True),
        ("apps/**", "apps/x/y", True),
        ("stacks/?.toml", "stacks/a.toml", True),
        ("stacks/?.toml", "stacks/ab.toml", False),
        ("stacks/[ab].toml", "stacks/a.toml", False),  # no character classes: taken literally
    ],
)
def test_globs(glob: str, path: str, matches: bool) -> None:
    assert glob_matches(glob, path) is matches


def test_repository_addresses(tmp_path: Path) -> None:
    assert repository_address("repo.git", tmp_path) == str(tmp_path / "repo.git")
    assert repository_address("file:///srv/git/x", tmp_path) == "file:///srv/git/x"
    assert repository_address("git@host:ops/x.git", tmp_path) == "git@host:ops/x.git"
    assert shown_url("https://user:token@host/x.git") == "https://host/x.git"


def test_the_shipped_examples_load(monkeypatch: pytest.MonkeyPatch) -> None:
    """templates/ops: the agent's configuration and the stack running the agent as a container."""
    from hostform.declare.load import load

    ops = Path(__file__).resolve().parents[2] / "templates" / "ops"
    config = load_agent_config(ops / "agent.toml")
    assert config.sources[0].webhook_secret_env == "HF_HOOK_SECRET"
    loaded = load(ops / "hostform-agent.toml", environ={"HF_HOOK_SECRET": "a-long-test-only-hook-secret-value"})
    mounts = loaded.stack.containers["agent"].volumes
    assert any("/var/run/docker.sock" in str(m) for m in mounts)
