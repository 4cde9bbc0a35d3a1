"""`hostform agent` end to end: real git repositories, the real engine, the agent as a process.

First deploy, a change by commit, a bad commit (reported, the previous deployment keeps running),
a stack removed with and without prune, hand drift (docker stop, docker rm) healed, pending
changes never healed, the webhook with good and bad signatures, notifications received, SIGTERM.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.agent_bed import (
    AgentProcess,
    GitHTTP,
    Receiver,
    Repo,
    agent_config,
    free_port,
    running,
    stack_file,
    wait_for,
)
from tests.integration.conftest import remove_stack_objects, run_cli

pytestmark = pytest.mark.engine
SECRET = "s3cret-hook-value"


class Names:
    def __init__(self) -> None:
        self.made: list[str] = []

    def new(self) -> str:
        self.made.append(f"hfa{uuid.uuid4().hex[:8]}")
        return self.made[-1]


@pytest.fixture
def names(docker_api: Any) -> Iterator[Names]:
    """Unique stack names; everything of them is removed afterwards."""
    made = Names()
    yield made
    for stack in made.made:
        remove_stack_objects(docker_api, stack)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


def start_agent(
    tmp_path: Path, sources: list[dict[str, Any]], receiver: Receiver | None = None, interval: str = "5s"
) -> AgentProcess:
    port = free_port()
    config = agent_config(tmp_path, port, sources, receiver, interval)
    env = {"HF_HOOK_SECRET": SECRET, "XDG_CACHE_HOME": str(tmp_path / "xdg-cache"), "HOSTFORM_AGENT_TRACE": "1"}
    return AgentProcess(config, port, env).start()


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def too_big(port: int, length: int) -> int:
    """The answer to a request announcing a body over the bound (the body is never sent)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.putrequest("POST", "/hooks/git")
    conn.putheader("Content-Length", str(length))
    conn.putheader("X-Gitlab-Token", SECRET)
    conn.endheaders()
    status = conn.getresponse().status
    conn.close()
    return status


def env_of(api: Any, container: str) -> dict[str, str]:
    pairs = api.inspect_container(container)["Config"]["Env"] or []
    return dict(p.split("=", 1) for p in pairs)


def test_deploy_change_bad_commit_and_webhook(
    tmp_path: Path, names: Names, docker_api: Any, receiver: Receiver
) -> None:
    a, b = names.new(), names.new()
    repo = Repo.make(tmp_path / "git")
    first = repo.commit(
        "two stacks", {"stacks/a/hostform.toml": stack_file(a), "stacks/b/hostform.toml": stack_file(b)}
    )
    source = {"repo": str(repo.origin), "stacks": ["stacks/*/hostform.toml"], "webhook_secret_env": "HF_HOOK_SECRET"}
    agent = start_agent(tmp_path, [source], receiver, interval="10m")  # only the first sync and the webhook
    try:
        # first deploy: both stacks applied from the commit, which their records name
        for name in (a, b):
            s = agent.wait_stack(name, lambda s: s["state"] == "synced" and s["generation"] is not None)
            assert s["applied_commit"] == first
            assert s["generation"]["commit"] == first and s["generation"]["operation"] == "apply"
        assert running([f"{a}-web", f"{b}-web"], docker_api) == {f"{a}-web": "running", f"{b}-web": "running"}
        wait_for(lambda: len(receiver.events("apply")) >= 2, 10, "two apply notifications")

        # the webhook: a missing or wrong signature is refused and starts nothing
        change = repo.commit("a says bonjour", {"stacks/a/hostform.toml": stack_file(a, "bonjour")})
        body = json.dumps({"ref": "refs/heads/main", "after": change}).encode()
        assert agent.post("/hooks/git", body, {"Content-Type": "application/json"}) == 401
        assert agent.post("/hooks/git", body, signed(body, "wrong")) == 401
        assert agent.post("/hooks/git", body, {"X-Gitlab-Token": "wrong"}) == 401
        assert too_big(agent.port, 2 << 20) == 413
        time.sleep(1.5)
        assert agent.status()["sources"][0]["commit"] == first  # nothing fetched

        # a good signature: the sync starts at once (the poll is 10 minutes away) and applies the change
        assert agent.post("/hooks/git", body, signed(body)) == 202
        wait_for(lambda: agent.status()["sources"][0]["commit"] == change, 20, "the webhook's sync to fetch")
        s = agent.wait_stack(a, lambda s: s["applied_commit"] == change and s["state"] == "synced")
        assert s["generation"]["commit"] == change
        assert env_of(docker_api, f"{a}-web")["GREETING"] == "bonjour"
        assert agent.stack(b)["applied_commit"] == first  # type: ignore[index]  # its folder did not change

        # GitLab's token header works too
        readme = repo.commit("docs only", {"README.md": "hello\n"})
        assert agent.post("/hooks/git", b"{}", {"X-Gitlab-Token": SECRET}) == 202
        wait_for(lambda: agent.status()["sources"][0]["commit"] == readme, 20, "the GitLab hook's sync")

        # a bad commit: reported (state, error, notification), the previous deployment keeps running
        web_id = docker_api.inspect_container(f"{a}-web")["Id"]
        bad = repo.commit("typo", {"stacks/a/hostform.toml": stack_file(a, "hola", extra='imgae = "x"\n')})
        assert agent.post("/hooks/git", b"{}", signed(b"{}")) == 202
        s = agent.wait_stack(a, lambda s: s["state"] == "failed")
        assert s["commit"] == bad and s["applied_commit"] == change
        assert "unknown key 'imgae'" in s["last_error"] and s["last_error_at"]
        assert docker_api.inspect_container(f"{a}-web")["Id"] == web_id
        assert docker_api.inspect_container(f"{a}-web")["State"]["Status"] == "running"
        wait_for(lambda: receiver.events("failure", a) != [], 10, "a failure notification")
        assert "imgae" in receiver.events("failure", a)[0]["message"]
        code, metrics, _ = agent.get("/metrics")
        assert code == 200 and f'hostform_agent_failures_total{{stack="{a}"}} 1.0' in metrics.decode()

        # the fix of the typo is applied
        fixed = repo.commit("fix", {"stacks/a/hostform.toml": stack_file(a, "hola")})
        assert agent.post("/hooks/git", b"{}", signed(b"{}")) == 202
        agent.wait_stack(a, lambda s: s["state"] == "synced" and s["applied_commit"] == fixed)
        assert env_of(docker_api, f"{a}-web")["GREETING"] == "hola"
        text = metrics.decode()
        assert 'hostform_agent_syncs_total{source="origin"}' in text
        assert f'hostform_agent_apply_duration_seconds_count{{stack="{a}"}}' in text
        assert SECRET not in agent.output() and SECRET not in json.dumps(agent.status())
    finally:
        print(agent.output())  # shown when the test fails
        assert agent.stop() == 0, agent.output()
    assert "agent: stopped" in agent.output()


def test_removed_stacks_pruned_only_with_prune(
    tmp_path: Path, names: Names, docker_api: Any, receiver: Receiver
) -> None:
    """Over HTTP (git http-backend) with prune, from a bare repository on disk without."""
    kept, pruned = names.new(), names.new()
    volume = "\n[volumes.data]\n"
    served = Repo.make(tmp_path / "served")
    local = Repo.make(tmp_path / "local")
    served.commit("one", {"s/hostform.toml": stack_file(pruned, extra=volume)})
    local.commit("one", {"s/hostform.toml": stack_file(kept)})
    http = GitHTTP(tmp_path / "served")
    try:
        sources = [
            {"name": "served", "repo": http.url("origin.git"), "stacks": ["s/hostform.toml"], "prune": True},
            {"name": "local", "repo": f"file://{local.origin}", "stacks": ["s/hostform.toml"]},
        ]
        agent = start_agent(tmp_path, sources, receiver)
        try:
            for name in (kept, pruned):
                agent.wait_stack(name, lambda s: s["state"] == "synced")
            assert docker_api.volumes(filters={"name": f"{pruned}_data"})["Volumes"]
            served.commit("gone", remove=("s",))
            local.commit("gone", remove=("s",))
            # the next poll (5 s) sees both removals
            wait_for(lambda: agent.stack(pruned) is None, 30, "the pruned stack to leave the status")
            assert running([f"{pruned}-web"], docker_api) == {f"{pruned}-web": "missing"}
            assert docker_api.volumes(filters={"name": f"{pruned}_data"})["Volumes"]  # volumes are kept
            wait_for(lambda: receiver.events("prune", pruned) != [], 10, "a prune notification")
            s = agent.wait_stack(kept, lambda s: s["removed"])
            assert s["state"] == "pending"
            assert running([f"{kept}-web"], docker_api) == {f"{kept}-web": "running"}
        finally:
            print(agent.output())  # shown when the test fails
            assert agent.stop() == 0, agent.output()
    finally:
        http.close()


def test_hand_drift_is_healed_within_seconds(tmp_path: Path, names: Names, docker_api: Any, receiver: Receiver) -> None:
    name = names.new()
    repo = Repo.make(tmp_path / "git")
    commit = repo.commit("one", {"app/hostform.toml": stack_file(name)})
    source = {"repo": str(repo.origin), "stacks": ["app/hostform.toml"]}
    agent = start_agent(tmp_path, [source], receiver, interval="10m")
    container = f"{name}-web"
    try:
        agent.wait_stack(name, lambda s: s["state"] == "synced" and s["generation"] is not None)
        time.sleep(2)  # past the quiet time after the agent's own apply

        started = docker_api.inspect_container(container)["State"]["StartedAt"]
        docker_api.stop(container)
        wait_for(  # no poll in 10 minutes: the engine's events told (bench/agent.py times it)
            lambda: (
                docker_api.inspect_container(container)["State"]["StartedAt"] != started
                and docker_api.inspect_container(container)["State"]["Running"]
            ),
            20,
            "docker stop to be healed",
        )

        agent.wait_stack(name, lambda s: s["generation"]["operation"] == "drift --fix", 20)  # the heal is over
        old = docker_api.inspect_container(container)["Id"]
        docker_api.remove_container(container, force=True)
        wait_for(
            lambda: running([container], docker_api)[container] == "running",
            20,
            "docker rm to be healed: {}",
            lambda: agent.output()[-3000:],
        )
        assert docker_api.inspect_container(container)["Id"] != old
        s = agent.wait_stack(name, lambda s: s["generation"]["operation"] == "drift --fix", 10)
        assert s["generation"]["commit"] == commit and s["state"] == "synced"
        wait_for(lambda: len(receiver.events("heal", name)) >= 2, 10, "heal notifications")
        code, metrics, _ = agent.get("/metrics")
        assert f'hostform_agent_heals_total{{stack="{name}"}} 2.0' in metrics.decode()
    finally:
        print(agent.output())  # shown when the test fails
        assert agent.stop() == 0, agent.output()


def test_plan_mode_reports_pending_and_heals_only_drift(tmp_path: Path, names: Names, docker_api: Any) -> None:
    name = names.new()
    repo = Repo.make(tmp_path / "git")
    repo.commit("one", {"app/hostform.toml": stack_file(name)})
    run_cli("apply", str(repo.work / "app"), "--auto-approve", check=True)  # applied by hand from a checkout
    pending = repo.commit("two", {"app/hostform.toml": stack_file(name, "pending-greeting")})
    source = {"repo": str(repo.origin), "stacks": ["app/hostform.toml"], "mode": "plan", "self_heal": True}
    agent = start_agent(tmp_path, [source], interval="10m")
    container = f"{name}-web"
    try:
        s = agent.wait_stack(name, lambda s: s["state"] == "pending")
        assert s["commit"] == pending and s["applied_commit"] is None
        page = agent.get("/")[1].decode()
        assert "GREETING" in page and "pending-greeting" in page  # the last plan shows the pending change
        time.sleep(2)
        started = docker_api.inspect_container(container)["State"]["StartedAt"]
        docker_api.stop(container)
        wait_for(
            lambda: (
                docker_api.inspect_container(container)["State"]["StartedAt"] != started
                and docker_api.inspect_container(container)["State"]["Running"]
            ),
            20,
            "the stopped container to be started",
        )
        assert env_of(docker_api, container)["GREETING"] == "hello"  # started, never replaced by the pending file
        assert agent.stack(name)["state"] == "pending"  # type: ignore[index]
    finally:
        print(agent.output())  # shown when the test fails
        assert agent.stop() == 0, agent.output()


def test_sigterm_finishes_the_apply_in_flight(tmp_path: Path, names: Names, docker_api: Any) -> None:
    name = names.new()
    repo = Repo.make(tmp_path / "git")
    slow = '\n[jobs.migrate]\nimage = "hostform-test/busybox:1"\ncommand = ["sleep", "4"]\n'
    commit = repo.commit("one", {"app/hostform.toml": stack_file(name, extra=slow)})
    agent = start_agent(tmp_path, [{"repo": str(repo.origin), "stacks": ["app/hostform.toml"]}])
    wait_for(lambda: running([f"{name}-migrate"], docker_api)[f"{name}-migrate"] == "running", 30, "the job to run")
    stopped = time.monotonic()
    assert agent.stop() == 0, agent.output()
    assert time.monotonic() - stopped > 1  # it waited for the apply
    generations = json.loads(run_cli("history", str(repo.work / "app"), "--json", check=True).out)["generations"]
    assert generations[0]["commit"] == commit and generations[0]["outcome"] == "complete"
    assert running([f"{name}-web"], docker_api) == {f"{name}-web": "running"}


def test_status_page_in_a_real_browser(tmp_path: Path, names: Names, docker_api: Any) -> None:
    """Server-rendered, escaped, readable without JavaScript: a headless Chromium's screenshot and DOM."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("chromium is not installed: run scripts/chromium-up (scripts/test does)")
    name = names.new()
    repo = Repo.make(tmp_path / "git")
    repo.commit("one", {"app/hostform.toml": stack_file(name, "<b>bold</b>&amp;")})
    agent = start_agent(tmp_path, [{"repo": str(repo.origin), "stacks": ["app/hostform.toml"]}])
    try:
        agent.wait_stack(name, lambda s: s["state"] == "synced" and s["generation"] is not None)
        code, html, headers = agent.get("/")
        page = html.decode()
        assert code == 200 and "<script" not in page and "src=" not in page and 'href="http' not in page
        assert "&lt;b&gt;bold&lt;/b&gt;&amp;amp;" in page and "<b>bold</b>" not in page
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        shot = tmp_path / "status.png"
        browser = [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'chromium'}",
            "--window-size=1280,1600",
        ]
        import subprocess

        subprocess.run([*browser, f"--screenshot={shot}", agent.url("/")], capture_output=True, timeout=120, check=True)
        dom = subprocess.run(
            [*browser, "--dump-dom", agent.url("/")], capture_output=True, text=True, timeout=120, check=True
        ).stdout
        data = shot.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000, len(data)
        assert name in dom and "synced" in dom and "hostform will perform these actions" in dom
        assert "&lt;b&gt;bold&lt;/b&gt;" in dom  # shown as text, not made bold
        kept = Path(__file__).resolve().parents[2] / "build" / "test-artifacts"
        kept.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, kept / "agent-status.png")  # to look at: CI keeps build/
    finally:
        print(agent.output())  # shown when the test fails
        assert agent.stop() == 0, agent.output()


def test_only_commits_signed_by_an_allowed_key_are_deployed(tmp_path: Path, names: Names, docker_api: Any) -> None:
    import subprocess

    key, stranger = tmp_path / "key", tmp_path / "stranger"
    for k in (key, stranger):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "t", "-f", str(k)], check=True)
    (tmp_path / "allowed_signers").write_text(f"test@example.test {(tmp_path / 'key.pub').read_text()}")
    name = names.new()
    repo = Repo.make(tmp_path / "git")
    signed_commit = repo.commit("one", {"app/hostform.toml": stack_file(name)}, sign=key)
    source = {"repo": str(repo.origin), "stacks": ["app/hostform.toml"], "allowed_signers": "allowed_signers"}
    source["webhook_secret_env"] = "HF_HOOK_SECRET"
    agent = start_agent(tmp_path, [source], interval="10m")
    try:
        agent.wait_stack(name, lambda s: s["state"] == "synced" and s["applied_commit"] == signed_commit)
        for how in ({}, {"sign": stranger}):
            refused = repo.commit("unsigned", {"app/hostform.toml": stack_file(name, "changed")}, **how)  # type: ignore[arg-type]
            assert agent.post("/hooks/git", b"{}", signed(b"{}")) == 202
            wait_for(
                lambda r=refused: (agent.status()["sources"][0]["error"] or "").startswith(f"commit {r[:12]}"),
                20,
                "a refusal",
            )
            assert agent.status()["sources"][0]["commit"] == signed_commit
            assert env_of(docker_api, f"{name}-web")["GREETING"] == "hello"
        good = repo.commit("signed", {"app/hostform.toml": stack_file(name, "signed")}, sign=key)
        assert agent.post("/hooks/git", b"{}", signed(b"{}")) == 202
        agent.wait_stack(name, lambda s: s["applied_commit"] == good)
        assert env_of(docker_api, f"{name}-web")["GREETING"] == "signed"
        wait_for(lambda: agent.status()["sources"][0]["error"] is None, 10, "the source's error to clear")
    finally:
        print(agent.output())  # shown when the test fails
        assert agent.stop() == 0, agent.output()
