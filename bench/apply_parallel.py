"""Benchmark: `hostform apply` of 50 independent containers, one by one against in parallel, and the floor.

    python bench/apply_parallel.py [--containers 50] [--rounds 5] [--image hostform-test/busybox:1]

Each round runs, in a rotating order, on an empty engine each time:

  p1     `hostform apply STACK --auto-approve --json --parallelism 1`
  p10    the same with `--parallelism 10`
  floor  a Python subprocess that imports the docker SDK, creates the stack's
         network, then creates and starts 50 equivalent containers (same image,
         command, stop signal, network and alias, labels) on a pool of 10 threads
  floor1 the same on one thread: what one-by-one costs without hostform

Between runs everything is removed (by label; not timed). Two times per run:
`wall`, the whole command as a user waits for it (Python start-up, observe and
plan included for hostform), and `work`, from the first action to the last (for
hostform: from the first `started` event to the `complete` event of --json; for
the floor: network create to the last start). Medians and ratios are printed
and written to bench/results/apply_parallel.json. Targets: p10 clearly faster
than p1 (work at least 1.5x), and p10 close to the floor (work within 1.2x).
How much parallelism can gain is the engine's to say: floor1/floor shows it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from common import environment, print_verdicts  # bench/ is on sys.path when a script runs

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "apply_parallel.json"
MODES = ("p1", "p10", "floor", "floor1")

# create + start of N containers on 10 threads; prints the seconds of that work
FLOOR = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
import docker
api = docker.APIClient(version="1.41", max_pool_size=16)
stack, image, n, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
began = time.perf_counter()
net = f"{stack}_default"
api.create_network(net, driver="bridge", labels={"io.hostform.stack": stack, "io.hostform.name": "default"})
def one(i):
    name = f"c{i:03d}"
    labels = {"io.hostform.stack": stack, "io.hostform.name": name, "io.hostform.kind": "container",
              "io.hostform.replica": "1", "io.hostform.spec": json.dumps({"image": image, "name": name})}
    config = {
        "Image": image, "Cmd": ["sleep", "86400"], "StopSignal": "SIGKILL", "Labels": labels,
        "HostConfig": {"NetworkMode": net, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}},
        "NetworkingConfig": {"EndpointsConfig": {net: {"Aliases": [name]}}},
    }
    api.inspect_image(image)
    ident = api.create_container_from_config(config, name=f"{stack}-{name}")["Id"]
    api.start(ident)
with ThreadPoolExecutor(max_workers=threads) as pool:
    list(pool.map(one, range(n)))
print(time.perf_counter() - began)
"""


def stack_file(name: str, image: str, n: int) -> str:
    parts = [f'[stack]\nname = "{name}"\n']
    for i in range(n):
        parts.append(
            f'[containers.c{i:03d}]\nimage = "{image}"\npull = "never"\n'
            f'command = ["sleep", "86400"]\nstop_signal = "SIGKILL"\n'
        )
    return "\n".join(parts)


def timed_apply(cmd: list[str], cwd: Path, env: dict[str, str], n: int) -> tuple[float, float]:
    """Wall seconds, and seconds from the first started event to the complete event."""
    began = time.perf_counter()
    first = last = None
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        event = json.loads(line).get("event") if line.startswith("{") else None
        if event == "started" and first is None:
            first = time.perf_counter()
        elif event == "complete":
            last = time.perf_counter()
    err = proc.stderr.read() if proc.stderr else ""
    wall = time.perf_counter() - began
    if proc.wait() != 0 or first is None or last is None:
        raise SystemExit(f"{' '.join(cmd[2:6])} ... exited {proc.returncode}:\n{err}")
    return wall, last - first


def timed_floor(cmd: list[str], cwd: Path) -> tuple[float, float]:
    began = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        raise SystemExit(f"floor exited {proc.returncode}:\n{proc.stderr}")
    return wall, float(proc.stdout.strip().splitlines()[-1])


def clean(stack: str) -> None:
    """Remove everything carrying the stack's label (not timed)."""
    import docker

    api = docker.APIClient(version="1.41")
    label = {"label": f"io.hostform.stack={stack}"}
    for c in api.containers(all=True, filters=label):
        api.remove_container(c["Id"], force=True)
    for n in api.networks(filters=label):
        api.remove_network(n["Id"])


def count(stack: str) -> int:
    import docker

    api = docker.APIClient(version="1.41")
    return len(api.containers(filters={"label": f"io.hostform.stack={stack}", "status": "running"}))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--image", default="hostform-test/busybox:1")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    stack = f"bench-par-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="hostform-bench-"))
    (work / "hostform.toml").write_text(stack_file(stack, args.image, args.containers))
    py = sys.executable
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    apply = [py, "-m", "hostform.plans.cli", "apply", str(work / "hostform.toml"), "--auto-approve", "--json"]

    def measure(mode: str) -> tuple[float, float]:
        if mode.startswith("floor"):
            threads = "1" if mode == "floor1" else "10"
            result = timed_floor([py, "-c", FLOOR, stack, args.image, str(args.containers), threads], work)
        else:
            result = timed_apply(apply + ["--parallelism", mode[1:]], work, env, args.containers)
        running = count(stack)
        if running != args.containers:
            raise SystemExit(f"{mode}: {running} containers running, expected {args.containers}")
        clean(stack)
        return result

    wall: dict[str, list[float]] = {m: [] for m in MODES}
    busy: dict[str, list[float]] = {m: [] for m in MODES}
    try:
        clean(stack)
        for mode in MODES:  # warm-up (image and engine caches, page cache of Python modules)
            measure(mode)
        for r in range(args.rounds):
            for mode in MODES[r % len(MODES) :] + MODES[: r % len(MODES)]:
                w, b = measure(mode)
                wall[mode].append(w)
                busy[mode].append(b)
            print(
                f"round {r + 1}/{args.rounds}: "
                + ", ".join(f"{m} {wall[m][-1]:.2f}s ({busy[m][-1]:.2f}s work)" for m in MODES),
                file=sys.stderr,
            )
    finally:
        clean(stack)

    report = build_report(args, wall, busy)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    return 0


def build_report(
    args: argparse.Namespace, wall: dict[str, list[float]], busy: dict[str, list[float]]
) -> dict[str, Any]:
    mw = {m: statistics.median(v) for m, v in wall.items()}
    mb = {m: statistics.median(v) for m, v in busy.items()}
    return {
        "benchmark": "apply_parallel",
        "containers": args.containers,
        "rounds": args.rounds,
        "image": args.image,
        "median_wall_seconds": {m: round(v, 3) for m, v in mw.items()},
        "median_work_seconds": {m: round(v, 3) for m, v in mb.items()},
        "ratios": {
            "wall p1/p10": round(mw["p1"] / mw["p10"], 2),
            "wall p10/floor": round(mw["p10"] / mw["floor"], 2),
            "work p1/p10": round(mb["p1"] / mb["p10"], 2),
            "work p10/floor": round(mb["p10"] / mb["floor"], 2),
            "work p1/floor1": round(mb["p1"] / mb["floor1"], 2),
            "work floor1/floor": round(mb["floor1"] / mb["floor"], 2),
        },
        "targets": {
            "work p1/p10 >= 1.5": mb["p1"] / mb["p10"] >= 1.5,
            "work p10/floor <= 1.2": mb["p10"] / mb["floor"] <= 1.2,
        },
        "samples_wall_seconds": {m: [round(x, 3) for x in v] for m, v in wall.items()},
        "samples_work_seconds": {m: [round(x, 3) for x in v] for m, v in busy.items()},
        "environment": environment(),
    }


def print_table(report: dict[str, Any]) -> None:
    wall, work = report["median_wall_seconds"], report["median_work_seconds"]
    print(f"\napply of {report['containers']} containers, median of {report['rounds']} interleaved rounds\n")
    print(f"{'mode':<8}{'wall s':>9}{'work s':>9}")
    for m in MODES:
        print(f"{m:<8}{wall[m]:>9.2f}{work[m]:>9.2f}")
    print_verdicts(report, 18)


if __name__ == "__main__":
    sys.exit(main())
