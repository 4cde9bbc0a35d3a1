"""`hostform agent`: webhook -> sync latency, drift seen and healed, and the idle cost with 20 stacks.

    python bench/agent.py [--stacks 20] [--idle 600] [--rounds 5]

One bare git repository on disk with N stacks (one busybox container each), one agent process
(interval 60 s, webhook on). Measured:
  webhook -> sync    POST /hooks/git to the agent's "sync" of the new commit starting (its fetch
                     done: /status shows the commit), for a commit that changes no stack
  drift seen         `docker stop` (SIGKILL, so the container is down at once) to the agent
                     taking the engine's event (HOSTFORM_AGENT_TRACE lines carry the event time)
  healed             `docker stop` / `docker rm -f` to the container running again
  idle               CPU seconds and peak RSS of the agent over --idle seconds with nothing changing
Targets (issue 24): the webhook starts the sync within 1 s; drift seen within 2 s and healed within
2 s plus the container's start; idle under 1% of one core and under 150 MB resident.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from common import environment, print_verdicts  # bench/ is on sys.path when a script runs

SECRET = "bench-hook-secret"
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@b",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@b",
}


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=True
    ).stdout.strip()


def docker(*args: str) -> str:
    return subprocess.run(["docker", *args], capture_output=True, text=True, check=False).stdout.strip()


def stack(name: str) -> str:
    return (
        f'[stack]\nname = "{name}"\n\n[containers.web]\nimage = "hostform-test/busybox:1"\n'
        'command = ["sleep", "100000"]\nstop_signal = "SIGKILL"\n'
    )


def get(port: int, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
        return json.loads(answer.read())


def post_hook(port: int) -> None:
    body = b"{}"
    signature = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/hooks/git", data=body, method="POST", headers={"X-Hub-Signature-256": signature}
    )
    urllib.request.urlopen(request, timeout=10).read()


def wait(ready: Any, timeout: float = 60) -> float:
    started = time.monotonic()
    while not ready():
        if time.monotonic() - started > timeout:
            raise SystemExit("timed out")
        time.sleep(0.02)
    return time.monotonic() - started


def restarted(container: str, started: str) -> bool:
    state = docker("inspect", "-f", "{{.State.Running}} {{.State.StartedAt}}", container)
    return state.startswith("true ") and state != f"true {started}"


def proc_stats(pid: int) -> tuple[float, int]:
    """CPU seconds (user + system) and resident kB of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    rss = next(
        int(line.split()[1])
        for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.startswith("VmRSS:")
    )
    return cpu, rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stacks", type=int, default=20)
    parser.add_argument("--idle", type=float, default=600.0)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, default=24961)
    o = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="hostform-bench-agent-"))
    prefix = f"hfb{uuid.uuid4().hex[:6]}"
    names = [f"{prefix}{i:02d}" for i in range(o.stacks)]
    git("init", "-q", "--bare", "--initial-branch=main", str(tmp / "origin.git"))
    git("init", "-q", "--initial-branch=main", str(tmp / "work"))
    work = tmp / "work"
    git("remote", "add", "origin", str(tmp / "origin.git"), cwd=work)
    for name in names:
        (work / "stacks" / name).mkdir(parents=True)
        (work / "stacks" / name / "hostform.toml").write_text(stack(name))
    git("add", "-A", cwd=work)
    git("commit", "-qm", "stacks", cwd=work)
    git("push", "-q", "origin", "HEAD:main", cwd=work)
    (tmp / "agent.toml").write_text(
        f'listen = "127.0.0.1:{o.port}"\ninterval = "60s"\ncache = "{tmp / "cache"}"\n\n[[sources]]\n'
        f'repo = "{tmp / "origin.git"}"\nstacks = ["stacks/*/hostform.toml"]\nwebhook_secret_env = "HOOK"\n'
    )
    log = (tmp / "agent.log").open("w")
    env = {**os.environ, "HOOK": SECRET, "HOSTFORM_AGENT_TRACE": "1", "XDG_CACHE_HOME": str(tmp / "xdg")}
    agent = subprocess.Popen(
        [sys.executable, "-m", "hostform.plans.cli", "agent", str(tmp / "agent.toml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    report: dict[str, Any] = {"environment": environment(stacks=str(o.stacks))}
    try:
        wait(lambda: "listening" in (tmp / "agent.log").read_text(), 60)
        deployed = wait(lambda: sum(s["state"] == "synced" for s in get(o.port, "/status")["stacks"]) == o.stacks, 600)
        report["first_deploy_seconds"] = round(deployed, 2)
        time.sleep(3)

        hook, seen, healed_stop, healed_rm = [], [], [], []
        for i in range(o.rounds):
            (work / "README.md").write_text(f"round {i}\n")  # changes no stack
            git("add", "-A", cwd=work)
            git("commit", "-qm", f"round {i}", cwd=work)
            git("push", "-q", "origin", "HEAD:main", cwd=work)
            commit = git("rev-parse", "HEAD", cwd=work)
            post_hook(o.port)
            hook.append(wait(lambda c=commit: get(o.port, "/status")["sources"][0]["commit"] == c, 30))
            time.sleep(2)

            container = f"{names[i % o.stacks]}-web"
            started = docker("inspect", "-f", "{{.State.StartedAt}}", container)
            before = len((tmp / "agent.log").read_text())
            stopped_at = time.time()
            docker("stop", container)
            healed_stop.append(wait(lambda c=container, s=started: restarted(c, s)))
            for line in (tmp / "agent.log").read_text()[before:].splitlines():
                if line.startswith("agent: event die " + container):
                    seen.append(max(0.0, float(line.rsplit(" ", 1)[1]) - stopped_at))
                    break
            time.sleep(3)
            docker("rm", "-f", container)
            healed_rm.append(wait(lambda c=container: docker("inspect", "-f", "{{.State.Running}}", c) == "true"))
            time.sleep(3)
        med = statistics.median
        report["webhook_to_sync_seconds"] = {"median": round(med(hook), 3), "max": round(max(hook), 3)}
        report["event_seen_after_stop_seconds"] = (
            {"median": round(med(seen), 3), "max": round(max(seen), 3)} if seen else None
        )
        report["healed_after_stop_seconds"] = {"median": round(med(healed_stop), 3), "max": round(max(healed_stop), 3)}
        report["healed_after_rm_seconds"] = {"median": round(med(healed_rm), 3), "max": round(max(healed_rm), 3)}

        time.sleep(5)
        cpu0, _ = proc_stats(agent.pid)
        peak = 0
        t_start = time.monotonic()
        while time.monotonic() - t_start < o.idle:
            peak = max(peak, proc_stats(agent.pid)[1])
            time.sleep(1)
        cpu1, rss = proc_stats(agent.pid)
        elapsed = time.monotonic() - t_start
        report["idle"] = {
            "seconds": round(elapsed),
            "cpu_percent_of_one_core": round(100 * (cpu1 - cpu0) / elapsed, 3),
            "rss_mb": round(rss / 1024, 1),
            "peak_rss_mb": round(peak / 1024, 1),
        }
        report["ratios"] = {}
        report["targets"] = {
            "webhook starts the sync within 1 s": max(hook) < 1.0,
            "drift seen within 2 s": bool(seen) and max(seen) < 2.0,
            "idle under 1% of one core": report["idle"]["cpu_percent_of_one_core"] < 1.0,
            "idle under 150 MB resident": report["idle"]["peak_rss_mb"] < 150,
        }
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(120)
        for name in names:
            subprocess.run(
                [sys.executable, "-m", "hostform.plans.cli", "destroy", str(work / "stacks" / name), "--auto-approve"],
                capture_output=True,
                check=False,
            )
            for c in docker("ps", "-aq", "--filter", f"label=io.hostform.record={name}").split():
                docker("rm", "-f", c)
        shutil.rmtree(tmp, ignore_errors=True)
    print(json.dumps(report, indent=2))
    print_verdicts(report, 40)


if __name__ == "__main__":
    main()
