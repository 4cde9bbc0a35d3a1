"""Benchmark: a no-op `hostform plan` on a 100-container stack, against its floor and Compose.

    python bench/plan_noop.py [--containers 100] [--runs 15] [--image hostform-test/busybox:1]

It applies a stack of N busybox containers with hostform and brings up the
equivalent Compose project (a separate project, so both exist at once), then
measures, interleaved and in a rotating order, N runs each of:

  hostform  `hostform plan STACK --detailed-exitcode` with nothing to do (exit 0)
  nocache   the same plan with --no-cache: the stack validated afresh (the cache of
            validated stacks is warm for `hostform` after the warm-up run)
  drift     `hostform drift STACK` on the same converged stack (exit 0)
  floor     a Python subprocess that imports the docker SDK and makes the calls a
            no-op plan cannot avoid: list the stack's containers by label,
            inspect each one, inspect the image (one after another)
  floor-noenv the same calls with requests' per-call proxy/netrc lookups off, as
            hostform turns them off on a local socket
  compose   `docker-compose up -d` (Debian's 1.29) with nothing to do

and prints medians and ratios, also written to bench/results/plan_noop.json.
Everything it created is removed at the end (only that: the stack by its label,
the Compose project by its name). Targets: hostform within 1.25x of the floor,
faster than Compose, and drift costing no more than the no-op plan.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

# bench/ is on sys.path when a script runs
from common import compile_hostform, environment, forget_record, print_verdicts, timings, version_of

REPO = Path(__file__).resolve().parents[1]
CPU: list[float] = []  # the CPU seconds of each command run, in order
RESULTS = REPO / "bench" / "results" / "plan_noop.json"

FLOOR = """
import sys
import docker
api = docker.APIClient(version="1.41")
stack, image, parallel, no_env = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4] == "1"
if no_env:
    api.trust_env = False  # as hostform does on a local socket: no proxy/netrc lookups per call
listed = api.containers(all=True, filters={"label": f"io.hostform.stack={stack}"})
ids = [c["Id"] for c in listed]
if parallel:
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=8) as pool:
        details = list(pool.map(api.inspect_container, ids))
else:
    details = [api.inspect_container(i) for i in ids]
api.inspect_image(image)
assert len(details) == len(ids) > 0
"""


def hostform_stack(name: str, image: str, n: int) -> str:
    parts = [f'[stack]\nname = "{name}"\n']
    for i in range(n):
        parts.append(
            f'[containers.c{i:03d}]\nimage = "{image}"\npull = "never"\n'
            f'command = ["sleep", "86400"]\nstop_signal = "SIGKILL"\n'
        )
    return "\n".join(parts)


def compose_file(image: str, n: int) -> str:
    lines = ['version: "2.4"', "services:"]
    for i in range(n):
        lines += [
            f"  c{i:03d}:",
            f"    image: {image}",
            '    command: ["sleep", "86400"]',
            "    stop_signal: SIGKILL",
        ]
    return "\n".join(lines) + "\n"


def run(
    cmd: list[str], cwd: Path, ok: tuple[int, ...] = (0,), env: dict[str, str] | None = None, noop: bool = True
) -> float:
    """The command's wall time; its CPU time (user + system, the engine's not included) goes to CPU."""
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env, timeout=900)
    took = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU.append(cpu_after.ru_utime + cpu_after.ru_stime - cpu_before.ru_utime - cpu_before.ru_stime)
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd[:4])}... exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    for word in ("Creating", "Recreating", "Starting"):
        if noop and word in proc.stderr and "compose" in cmd[0]:
            raise SystemExit(f"compose was not a no-op: {proc.stderr}")
    return took


def ensure_compose() -> str:
    found = shutil.which("docker-compose")
    if found:
        return found
    print("docker-compose missing: installing Debian's docker-compose", file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "docker-compose"],
        check=True,
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
    )
    return shutil.which("docker-compose") or "docker-compose"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--image", default="hostform-test/busybox:1")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so a timeout still cleans up
    compose = ensure_compose()
    tag = uuid.uuid4().hex[:6]
    stack, project = f"bench-noop-{tag}", f"benchnoop{tag}"
    work = Path(tempfile.mkdtemp(prefix="hostform-bench-"))
    (work / "hostform.toml").write_text(hostform_stack(stack, args.image, args.containers))
    (work / "docker-compose.yml").write_text(compose_file(args.image, args.containers))
    py = sys.executable
    hostform = [py, "-m", "hostform.plans.cli"]
    # Compose 1.x nests its parallel runs under one global limit (64): a project with more
    # services than that deadlocks on `up`. A limit above the service count avoids it.
    os.environ.setdefault("COMPOSE_PARALLEL_LIMIT", str(max(64, 4 * args.containers)))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    commands = {
        "hostform": (hostform + ["plan", str(work / "hostform.toml"), "--detailed-exitcode"], (0,)),
        "nocache": (hostform + ["plan", str(work / "hostform.toml"), "--detailed-exitcode", "--no-cache"], (0,)),
        "drift": (hostform + ["drift", str(work / "hostform.toml")], (0,)),
        "floor": ([py, "-c", FLOOR, stack, args.image, "0", "0"], (0,)),
        "floor-noenv": ([py, "-c", FLOOR, stack, args.image, "0", "1"], (0,)),
        "compose": ([compose, "-p", project, "-f", str(work / "docker-compose.yml"), "up", "-d"], (0,)),
    }
    times: dict[str, list[float]] = {k: [] for k in commands}
    cpu: dict[str, list[float]] = {k: [] for k in commands}
    load_before = os.getloadavg()
    where = compile_hostform(py, env)  # as a user runs it: from bytecode
    try:
        print(f"setting up {args.containers} containers with hostform and with compose ...", file=sys.stderr)
        setup_hostform = run(hostform + ["apply", str(work / "hostform.toml"), "--auto-approve"], work, env=env)
        setup_compose = run(commands["compose"][0], work, noop=False)
        for name in commands:  # one warm-up each (page cache, engine caches)
            run(commands[name][0], work, commands[name][1], env)
        order = list(commands)
        for i in range(args.runs):
            for name in order[i % len(order) :] + order[: i % len(order)]:
                times[name].append(run(commands[name][0], work, commands[name][1], env))
                cpu[name].append(CPU[-1])
            print(
                f"run {i + 1}/{args.runs}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items()), file=sys.stderr
            )
    finally:
        print("cleaning up ...", file=sys.stderr)
        destroyed = subprocess.run(
            hostform + ["destroy", str(work / "hostform.toml"), "--auto-approve", "--volumes"],
            cwd=work,
            capture_output=True,
            text=True,
            env=env,
        )
        if destroyed.returncode != 0:  # say so: a leftover would skew the next run
            print(f"cleanup: hostform destroy exited {destroyed.returncode}:\n{destroyed.stderr}", file=sys.stderr)
        forget_record(stack)  # destroy keeps the record (the audit trail): this stack is gone for good
        subprocess.run(
            [compose, "-p", project, "-f", str(work / "docker-compose.yml"), "down", "-t", "0"],
            cwd=work,
            capture_output=True,
        )
        shutil.rmtree(work, ignore_errors=True)

    medians = {k: statistics.median(v) for k, v in times.items()}
    cpu_medians = {k: statistics.median(v) for k, v in cpu.items()}
    report = {
        "benchmark": "plan_noop",
        "containers": args.containers,
        "runs": args.runs,
        "image": args.image,
        **timings(times),
        "ratios": {
            "hostform/floor": round(medians["hostform"] / medians["floor"], 3),
            "hostform/floor-noenv": round(medians["hostform"] / medians["floor-noenv"], 3),
            "nocache/floor": round(medians["nocache"] / medians["floor"], 3),
            "hostform/nocache": round(medians["hostform"] / medians["nocache"], 3),
            "hostform/compose": round(medians["hostform"] / medians["compose"], 3),
            "drift/hostform": round(medians["drift"] / medians["hostform"], 3),
            # CPU time of the command's own process (and its children): far less sensitive than the
            # wall time to other processes on a shared machine; the engine's work is left out of both
            "cpu hostform/floor": round(cpu_medians["hostform"] / cpu_medians["floor"], 3),
            "cpu nocache/floor": round(cpu_medians["nocache"] / cpu_medians["floor"], 3),
            "cpu hostform/nocache": round(cpu_medians["hostform"] / cpu_medians["nocache"], 3),
        },
        "targets": {
            "hostform/floor <= 1.25": medians["hostform"] / medians["floor"] <= 1.25,
            "hostform/compose < 1": medians["hostform"] < medians["compose"],
            # "drift costs no more than the no-op plan": equal work, so equal within the noise
            # of a median over interleaved runs (a few per cent here)
            "drift/hostform <= 1.05": medians["drift"] / medians["hostform"] <= 1.05,
        },
        "setup_seconds": {"hostform apply": round(setup_hostform, 2), "compose up": round(setup_compose, 2)},
        "samples_seconds": {k: [round(x, 4) for x in v] for k, v in times.items()},
        "cpu_median_seconds": {k: round(v, 4) for k, v in cpu_medians.items()},
        "cpu_samples_seconds": {k: [round(x, 4) for x in v] for k, v in cpu.items()},
        "load_average": {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]},
        "environment": environment(
            compose=version_of([compose, "version", "--short"]),
            COMPOSE_PARALLEL_LIMIT=os.environ["COMPOSE_PARALLEL_LIMIT"],
            PYTHONDONTWRITEBYTECODE=os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
            bytecode=f"compiled before the runs (python -m compileall {where})",
        ),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    return 0


def print_table(report: dict) -> None:  # type: ignore[type-arg]
    med, lo, hi = report["median_seconds"], report["min_seconds"], report["max_seconds"]
    print(f"\nno-op plan, {report['containers']} containers, {report['runs']} interleaved runs each\n")
    cpu = report["cpu_median_seconds"]
    print(f"{'command':<13}{'median s':>10}{'min s':>10}{'max s':>10}{'CPU s':>10}")
    for k in med:
        print(f"{k:<13}{med[k]:>10.3f}{lo[k]:>10.3f}{hi[k]:>10.3f}{cpu[k]:>10.3f}")
    print(f"load average before {report['load_average']['before']}, after {report['load_average']['after']}")
    print_verdicts(report, 20)


if __name__ == "__main__":
    sys.exit(main())
