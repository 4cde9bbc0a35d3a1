"""Benchmark on the 3-node Swarm test bed (scripts/swarm-up):

    python bench/swarm.py [--services 50] [--runs 11] [--apply-services 20] [--apply-runs 3] [--rtt-ms 0]

1. a no-op `hostform plan` on a stack of N services, against its floor: a Python process that
   imports the docker SDK and lists the stack's services and tasks on the manager (what any tool
   must read to know the stack's state). Interleaved, rotating order. Target: within 1.5x.
   With --rtt-ms N, both reach the manager through a latency front of this script's own
   (bench/latency.py: each direction delayed by N/2 ms), as over a link to a remote manager.
2. the time for `hostform apply` to converge M services, side by side with
   `docker stack deploy` of the equivalent compose file, each from nothing, alternating, removed
   between runs: `--detach=false` (the CLI waits for the services, one after another) and
   detached followed by this script polling until every service runs its replica (the time
   convergence takes, the CLI's own waiting left out). --apply-runs 0 leaves this part out.

Medians and ratios are printed and written to bench/results/swarm.json. It removes what it made:
the stacks by their labels and names. The bed is brought up if needed, never taken down.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import compile_hostform, environment, print_verdicts  # bench/ is on sys.path when a script runs
from latency import LatencyProxy

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "swarm.json"
IMAGE = "10.81.0.1:5000/hostform-test/busybox:1"

FLOOR = """
import sys
import docker
api = docker.APIClient(base_url=sys.argv[2], version="1.41")
label = {"label": f"io.hostform.stack={sys.argv[1]}"}
services = api.services(filters=label)
tasks = api.tasks(filters=label)
"""

POLL = """
import sys, time
import docker
api = docker.APIClient(base_url=sys.argv[2], version="1.41")
label = {"label": f"com.docker.stack.namespace={sys.argv[1]}"}
while True:
    services = api.services(filters=label)
    tasks = api.tasks(filters={**label, "desired-state": "running"})
    running = sum(t["Status"]["State"] == "running" for t in tasks)
    if len(services) == int(sys.argv[3]) and running == len(services):
        break
    time.sleep(0.1)
"""


def stack_file(folder: Path, name: str, n: int) -> Path:
    body = f'[stack]\nname = "{name}"\ntarget = "swarm"\n\n'
    body += "".join(
        f'[containers.s{i:02}]\nimage = "{IMAGE}"\ncommand = ["sleep", "100000"]\nstop_grace_period = "1s"\n\n'
        for i in range(n)
    )
    path = folder / f"{name}.toml"
    path.write_text(body, encoding="utf-8")
    return path


def compose_file(folder: Path, n: int) -> Path:
    lines = ['version: "3.8"', "services:"]
    for i in range(n):
        lines += [
            f"  s{i:02}:",
            f"    image: {IMAGE}",
            '    command: ["sleep", "100000"]',
            "    stop_grace_period: 1s",
        ]
    path = folder / "compose.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def hostform(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "hostform.plans.cli", *args], capture_output=True, text=True, env=env)


def timed(cmd: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,), cpu: list[float] | None = None) -> float:
    """The command's wall time; its CPU time (user + system of its own process, the engines' work
    left out: far less sensitive to a shared machine's load) is appended to `cpu` when given."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    took = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {proc.stdout[-500:]}{proc.stderr[-500:]}")
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return took


def wait_gone(env: dict[str, str], label: str) -> None:
    """Until no service, task container or network of the stack is left (so runs start alike)."""
    for _ in range(240):
        out = subprocess.run(
            ["docker", "service", "ls", "-q", "--filter", f"label={label}"], capture_output=True, text=True, env=env
        ).stdout.strip()
        nets = subprocess.run(
            ["docker", "network", "ls", "-q", "--filter", f"label={label}"], capture_output=True, text=True, env=env
        ).stdout.strip()
        if not out and not nets:
            return
        time.sleep(0.5)


def forget(env: dict[str, str], stack: str) -> None:
    """Remove the stack's record (destroy keeps it: configs hostform.record.<stack>.<N>)."""
    listed = subprocess.run(
        ["docker", "config", "ls", "-q", "--filter", f"label=io.hostform.record={stack}"],
        capture_output=True,
        text=True,
        env=env,
    )
    ids = listed.stdout.split()
    if ids:
        subprocess.run(["docker", "config", "rm", *ids], capture_output=True, env=env)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=50)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--apply-services", type=int, default=20)
    parser.add_argument("--apply-runs", type=int, default=3)
    parser.add_argument("--rtt-ms", type=float, default=0.0, help="the no-op plan and its floor over this RTT")
    args = parser.parse_args()
    subprocess.run([str(REPO / "scripts/swarm-up")], check=True, capture_output=True)
    manager = "unix:///tmp/hfsw/s1/docker.sock"
    env = {**os.environ, "DOCKER_HOST": manager}
    proxy = LatencyProxy(manager.removeprefix("unix://"), args.rtt_ms / 2000).start() if args.rtt_ms else None
    reads = manager if proxy is None else proxy.url  # where the timed plan and floor reach the manager
    load = {"before": os.getloadavg()}
    folder = Path(tempfile.mkdtemp(prefix="hostform-bench-swarm-"))
    noop = f"hfb{uuid.uuid4().hex[:6]}"
    small_suffix = uuid.uuid4().hex[:6]
    samples: dict[str, list[float]] = {
        "hostform plan": [],
        "floor": [],
        "hostform apply": [],
        "docker stack deploy": [],
        "stack deploy + poll": [],
    }
    cpu: dict[str, list[float]] = {"hostform plan": [], "floor": []}
    try:
        big = stack_file(folder, noop, args.services)
        done = hostform("apply", str(big), "--auto-approve", env=env)
        if done.returncode != 0:
            raise SystemExit(done.stdout[-1000:] + done.stderr[-1000:])
        plan = [sys.executable, "-m", "hostform.plans.cli", "plan", str(big), "--detailed-exitcode"]
        floor = [sys.executable, "-c", FLOOR, noop, reads]
        compile_hostform(sys.executable, env)  # as a user runs it: from bytecode
        for r in range(args.runs + 1):
            order = [("hostform plan", plan), ("floor", floor)]
            for name, cmd in order[r % 2 :] + order[: r % 2]:
                spent: list[float] = []
                took = timed(cmd, {**env, "DOCKER_HOST": reads}, cpu=spent)
                if r:  # the first round warms the caches
                    samples[name].append(took)
                    cpu[name] += spent
        hostform("destroy", str(big), "--auto-approve", env=env)
        small_name = f"hfa{small_suffix}"
        small = stack_file(folder, small_name, args.apply_services)
        compose = compose_file(folder, args.apply_services)
        project = f"cmp{uuid.uuid4().hex[:6]}"
        apply_cmd = [sys.executable, "-m", "hostform.plans.cli", "apply", str(small), "--auto-approve"]
        deploy_cmd = ["docker", "stack", "deploy", "--detach=false", "-c", str(compose), project]
        detached = ["docker", "stack", "deploy", "--detach=true", "-c", str(compose), project]
        poll = [sys.executable, "-c", POLL, project, manager, str(args.apply_services)]
        for r in range(args.apply_runs):
            order = [("hostform apply", apply_cmd), ("docker stack deploy", deploy_cmd), ("stack deploy + poll", [])]
            for name, cmd in order[r % 3 :] + order[: r % 3]:
                if cmd:
                    samples[name].append(timed(cmd, env))
                else:
                    samples[name].append(timed(detached, env) + timed(poll, env))
                if name == "hostform apply":
                    hostform("destroy", str(small), "--auto-approve", env=env)
                    wait_gone(env, f"io.hostform.stack={small_name}")
                else:
                    subprocess.run(["docker", "stack", "rm", project], capture_output=True, env=env)
                    wait_gone(env, f"com.docker.stack.namespace={project}")
    finally:
        hostform("destroy", str(folder / f"{noop}.toml"), "--auto-approve", env=env)
        for stack in (noop, f"hfa{small_suffix}"):
            forget(env, stack)
        if proxy is not None:
            proxy.stop()
    load["after"] = os.getloadavg()
    medians = {k: statistics.median(v) for k, v in samples.items() if v}
    cpu_medians = {k: statistics.median(v) for k, v in cpu.items()}
    ratios = {
        "plan / floor": medians["hostform plan"] / medians["floor"],
        "plan / floor, CPU": cpu_medians["hostform plan"] / cpu_medians["floor"],
    }
    if args.apply_runs:
        ratios["apply / stack deploy"] = medians["hostform apply"] / medians["docker stack deploy"]
        ratios["apply / stack deploy + poll"] = medians["hostform apply"] / medians["stack deploy + poll"]
    report = {
        "environment": environment(
            services=str(args.services), apply_services=str(args.apply_services), rtt_ms=str(args.rtt_ms)
        ),
        "load average": load,
        "samples": samples,
        "medians": medians,
        "cpu samples": cpu,
        "cpu medians": cpu_medians,
        "ratios": ratios,
    }
    report["targets"] = {"no-op plan within 1.5x of the floor": ratios["plan / floor"] <= 1.5}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for k, v in medians.items():
        print(f"{k:<24}{v:>8.3f} s" + (f"   CPU {cpu_medians[k]:.3f} s" if k in cpu_medians else ""))
    print("load average " + ", ".join(f"{when} " + "/".join(f"{x:.1f}" for x in la) for when, la in load.items()))
    print_verdicts(report, 24)
    return 0


if __name__ == "__main__":
    sys.exit(main())
