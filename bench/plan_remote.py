"""Benchmark: hostform on an engine 50 ms of round trip away, against the same on the local socket.

    python bench/plan_remote.py [--containers 100] [--runs 9] [--compose-runs 3]
                                [--apply-containers 20] [--apply-rounds 3] [--startup-runs 15]
                                [--big 1000] [--big-runs 3] [--rtt-ms 50]

The remote engine is this machine's engine behind a latency front of the script's own
(bench/latency.py: TCP on loopback, each direction delayed by half the RTT, request/response
exchanges counted). In one run, interleaved in a rotating order:

  plan-local     `hostform plan STACK --detailed-exitcode`, nothing to do, on the local socket
  plan-remote    the same through the front (DOCKER_HOST=tcp://127.0.0.1:PORT)
  drift-local    `hostform drift STACK` on the local socket
  drift-remote   the same through the front
  floor-local    the sequential docker-SDK floor on the local socket: list by label, inspect each
                 container in turn, inspect the image
  floor-remote   the same floor through the front
  compose-remote Debian's docker-compose 1.29 `up -d` with nothing to do, through the front
                 (installed here when missing; --compose-runs rounds only, it is slow)

then an apply of --apply-containers new containers, local against remote, alternating
(the stack destroyed between, untimed); `hostform --version` against `python -c pass`;
and with --big N, a no-op plan of N containers against the floor, with peak memory.
Medians and ratios are printed and written to bench/results/plan_remote.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
import uuid
from pathlib import Path
from typing import Any

from common import (  # bench/ is on sys.path when a script runs
    compile_hostform,
    environment,
    forget_record,
    print_verdicts,
    version_of,
)
from latency import LatencyProxy
from plan_noop import compose_file, hostform_stack

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "plan_remote.json"

FLOOR = """
import sys
import docker
api = docker.APIClient(version="1.41", **docker.utils.kwargs_from_env())  # DOCKER_HOST: the front
stack, image = sys.argv[1], sys.argv[2]
listed = api.containers(all=True, filters={"label": f"io.hostform.stack={stack}"})
details = [api.inspect_container(c["Id"]) for c in listed]
api.inspect_image(image)
assert len(details) == len(listed) > 0
"""

# the child's own peak resident set (ru_maxrss of the children waited for: this one only)
PEAK = """
import resource, subprocess, sys, time
began = time.perf_counter()
code = subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL).returncode
print(time.perf_counter() - began, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, code)
"""


class Bench:
    def __init__(self, work: Path, proxy: LatencyProxy) -> None:
        self.work = work
        self.proxy = proxy
        self.py = sys.executable
        self.hostform = [self.py, "-m", "hostform.plans.cli"]
        self.local_env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
        self.remote_env = {**self.local_env, "DOCKER_HOST": proxy.url}

    def run(self, cmd: list[str], remote: bool, ok: tuple[int, ...] = (0,), noop: bool = True) -> tuple[float, int]:
        """Seconds, and the exchanges the front saw (0 on the local socket)."""
        before = self.proxy.exchanges
        started = time.perf_counter()
        env = self.remote_env if remote else self.local_env
        proc = subprocess.run(cmd, cwd=self.work, capture_output=True, text=True, env=env, timeout=1800)
        took = time.perf_counter() - started
        if proc.returncode not in ok:
            raise SystemExit(f"{' '.join(cmd[:5])}... exited {proc.returncode}:\n{proc.stdout[-2000:]}\n{proc.stderr}")
        if noop and "compose" in cmd[0] and any(w in proc.stderr for w in ("Creating", "Recreating", "Starting")):
            raise SystemExit(f"compose was not a no-op: {proc.stderr}")
        return took, self.proxy.exchanges - before

    def apply(self, stack_file: Path, remote: bool) -> float:
        return self.run([*self.hostform, "apply", str(stack_file), "--auto-approve"], remote)[0]

    def destroy(self, stack_file: Path) -> None:
        done = subprocess.run(
            [*self.hostform, "destroy", str(stack_file), "--auto-approve", "--volumes"],
            cwd=self.work,
            capture_output=True,
            text=True,
            env=self.local_env,
        )
        if done.returncode != 0:  # say so: a leftover would skew the next run
            print(f"cleanup: hostform destroy exited {done.returncode}:\n{done.stderr}", file=sys.stderr)
        forget_record(tomllib.loads(stack_file.read_text())["stack"]["name"])  # destroy keeps the record


def ensure_compose() -> str | None:
    found = shutil.which("docker-compose")
    if found:
        return found
    print("docker-compose missing: installing Debian's docker-compose", file=sys.stderr)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=False, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "docker-compose"], check=False, env=env)
    return shutil.which("docker-compose")


def write_stack(folder: Path, name: str, image: str, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hostform.toml"
    path.write_text(hostform_stack(name, image, n))
    return path


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


def interleaved(bench: Bench, args: argparse.Namespace, stack: Path, compose: list[str] | None) -> dict[str, Any]:
    modes: dict[str, tuple[list[str], bool]] = {
        "plan-local": ([*bench.hostform, "plan", str(stack), "--detailed-exitcode"], False),
        "plan-remote": ([*bench.hostform, "plan", str(stack), "--detailed-exitcode"], True),
        "drift-local": ([*bench.hostform, "drift", str(stack)], False),
        "drift-remote": ([*bench.hostform, "drift", str(stack)], True),
        "floor-local": ([bench.py, "-c", FLOOR, args.stack_name, args.image], False),
        "floor-remote": ([bench.py, "-c", FLOOR, args.stack_name, args.image], True),
    }
    if compose:
        modes["compose-remote"] = (compose, True)
    times: dict[str, list[float]] = {k: [] for k in modes}
    exchanges: dict[str, list[int]] = {k: [] for k in modes}
    for name, (cmd, remote) in modes.items():  # one warm-up each (page cache, engine caches)
        if name != "compose-remote":
            bench.run(cmd, remote)
    order = list(modes)
    for i in range(args.runs):
        for name in order[i % len(order) :] + order[: i % len(order)]:
            if name == "compose-remote" and i >= args.compose_runs:
                continue
            cmd, remote = modes[name]
            took, seen = bench.run(cmd, remote)
            times[name].append(took)
            exchanges[name].append(seen)
        done = ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items() if v)
        print(f"run {i + 1}/{args.runs}: {done}", file=sys.stderr)
    return {"times": times, "exchanges": exchanges}


def apply_rounds(bench: Bench, args: argparse.Namespace) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"apply-local": [], "apply-remote": []}
    for i in range(args.apply_rounds):
        for remote in (i % 2 == 1, i % 2 == 0):
            stack = write_stack(bench.work / f"apply-{i}-{int(remote)}", f"{args.stack_name}-a{i}{int(remote)}",
                                args.image, args.apply_containers)  # fmt: skip
            try:
                out["apply-remote" if remote else "apply-local"].append(bench.apply(stack, remote))
            finally:
                bench.destroy(stack)
        print(f"apply round {i + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in out.items()), file=sys.stderr)
    return out


def startup(bench: Bench, runs: int) -> dict[str, list[float]]:
    script = Path(bench.py).parent / "hostform"  # the console script a user runs
    command = [str(script)] if script.exists() else [*bench.hostform]
    modes = {
        "python -c pass": [bench.py, "-c", "pass"],
        # what pip's generated console-script wrapper runs before hostform (bin/hostform does not)
        "python -c 'import re'": [bench.py, "-c", "import re"],
        "hostform --version": [*command, "--version"],
    }
    out: dict[str, list[float]] = {k: [] for k in modes}
    for i in range(runs + 1):
        for name in list(modes)[i % 3 :] + list(modes)[: i % 3]:
            took = bench.run(modes[name], False)[0]
            if i:  # the first round warms up
                out[name].append(took)
    return out


def big(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """A no-op plan of --big containers: time and peak memory, against the floor."""
    stack = write_stack(bench.work / "big", f"{args.stack_name}-big", args.image, args.big)
    print(f"applying {args.big} containers (minutes) ...", file=sys.stderr)
    setup = bench.apply(stack, False)
    result: dict[str, Any] = {"containers": args.big, "apply_seconds": round(setup, 1)}
    try:
        runs: dict[str, list[tuple[float, int]]] = {"plan": [], "floor": []}
        cmds = {
            "plan": [*bench.hostform, "plan", str(stack), "--detailed-exitcode"],
            "floor": [bench.py, "-c", FLOOR, f"{args.stack_name}-big", args.image],
        }
        for i in range(args.big_runs + 1):  # the first round warms up (and fills the stack cache)
            for name in list(cmds)[i % 2 :] + list(cmds)[: i % 2]:
                out = subprocess.run([bench.py, "-c", PEAK, "x", *cmds[name]], capture_output=True, text=True,
                                     env=bench.local_env, cwd=bench.work, check=True).stdout.split()  # fmt: skip
                if out[2] != "0":
                    raise SystemExit(f"{name} on {args.big} containers exited {out[2]}")
                if i:
                    runs[name].append((float(out[0]), int(out[1])))
        result.update(
            {f"{k}_median_seconds": round(median([t for t, _ in v]), 3) for k, v in runs.items()}
            | {f"{k}_peak_mb": round(max(m for _, m in v) / 1024, 1) for k, v in runs.items()}
        )
    finally:
        print("removing them ...", file=sys.stderr)
        bench.destroy(stack)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--compose-runs", type=int, default=3, help="rounds that include compose (0: none)")
    parser.add_argument("--apply-containers", type=int, default=20)
    parser.add_argument("--apply-rounds", type=int, default=4)
    parser.add_argument("--startup-runs", type=int, default=15)
    parser.add_argument("--big", type=int, default=0, help="also a no-op plan of this many containers")
    parser.add_argument("--big-runs", type=int, default=3, help="measured runs of the --big plan and its floor")
    parser.add_argument("--rtt-ms", type=float, default=50.0)
    parser.add_argument("--image", default="hostform-test/busybox:1")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so a timeout still cleans up

    rtt = args.rtt_ms / 1000
    # Compose 1.x deadlocks on `up` with more services than its parallel limit (see plan_noop.py);
    # set before the commands' environments are made
    os.environ.setdefault("COMPOSE_PARALLEL_LIMIT", str(max(64, 4 * args.containers)))
    proxy = LatencyProxy(delay=rtt / 2).start()
    tag = uuid.uuid4().hex[:6]
    args.stack_name = f"bench-remote-{tag}"
    project = f"benchremote{tag}"
    work = Path(tempfile.mkdtemp(prefix="hostform-bench-remote-"))
    bench = Bench(work, proxy)
    stack = write_stack(work / "noop", args.stack_name, args.image, args.containers)
    compose_bin = ensure_compose() if args.compose_runs else None
    compose_yml = work / "docker-compose.yml"
    compose_yml.write_text(compose_file(args.image, args.containers))
    compose = [compose_bin, "-p", project, "-f", str(compose_yml), "up", "-d"] if compose_bin else None
    compile_hostform(bench.py)  # as a user runs it: from bytecode
    report: dict[str, Any] = {"benchmark": "plan_remote", "containers": args.containers, "rtt_ms": args.rtt_ms}
    try:
        print(f"setting up {args.containers} containers with hostform and with compose ...", file=sys.stderr)
        bench.apply(stack, False)
        if compose:
            bench.run(compose, False, noop=False)
        noop = interleaved(bench, args, stack, compose)
        applies = apply_rounds(bench, args)
        starts = startup(bench, args.startup_runs)
        report["big"] = big(bench, args) if args.big else None
    finally:
        print("cleaning up ...", file=sys.stderr)
        bench.destroy(stack)
        if compose_bin:
            subprocess.run([compose_bin, "-p", project, "-f", str(compose_yml), "down", "-t", "0"],
                           cwd=work, capture_output=True, env=bench.local_env)  # fmt: skip
        proxy.stop()
        shutil.rmtree(work, ignore_errors=True)

    times = {**noop["times"], **applies, **starts}
    med = {k: median(v) for k, v in times.items()}
    extra_rt = {
        k: (med[f"{k}-remote"] - med[f"{k}-local"]) / rtt for k in ("plan", "drift", "floor")
    }  # the time a remote run costs beyond the local one, in round trips
    report.update(
        {
            "runs": args.runs,
            "compose": version_of([compose_bin, "--version"]) if compose_bin else "unavailable",
            "median_seconds": {k: round(v, 4) for k, v in med.items()},
            "samples_seconds": {k: [round(x, 4) for x in v] for k, v in times.items()},
            "exchanges_median": {
                k: median([float(x) for x in v]) for k, v in noop["exchanges"].items() if "remote" in k
            },
            "extra_round_trips": {k: round(v, 1) for k, v in extra_rt.items()},
            "ratios": {
                "plan-remote/plan-local": med["plan-remote"] / med["plan-local"],
                "plan-local/floor-local": med["plan-local"] / med["floor-local"],
                "plan-remote/floor-remote": med["plan-remote"] / med["floor-remote"],
                "apply-remote/apply-local": med["apply-remote"] / med["apply-local"],
                "version/python": med["hostform --version"] / med["python -c pass"],
                "version/python-import-re": med["hostform --version"] / med["python -c 'import re'"],
            }
            | ({"plan-remote/compose-remote": med["plan-remote"] / med["compose-remote"]} if compose else {}),
        }
    )
    report["targets"] = {
        "plan: <= 8 round trips more than local": extra_rt["plan"] <= 8,
        "drift: <= 8 round trips more than local": extra_rt["drift"] <= 8,
        "apply-remote/apply-local <= 1.3": report["ratios"]["apply-remote/apply-local"] <= 1.3,
        "plan-local/floor-local <= 1.25": report["ratios"]["plan-local/floor-local"] <= 1.25,
        "version/python <= 1.5": report["ratios"]["version/python"] <= 1.5,
    }
    if report.get("big"):
        report["targets"]["big: peak < 150 MB"] = report["big"]["plan_peak_mb"] < 150
    report["environment"] = environment(
        PYTHONDONTWRITEBYTECODE=os.environ.get("PYTHONDONTWRITEBYTECODE", ""),
        load_at_end=" ".join(f"{x:.2f}" for x in os.getloadavg()),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    return 0


def print_table(report: dict[str, Any]) -> None:
    med = report["median_seconds"]
    print(f"\n{report['containers']} containers, RTT {report['rtt_ms']:.0f} ms, {report['runs']} interleaved runs\n")
    print(f"{'what':<22}{'median s':>10}{'exchanges':>11}")
    for k, v in med.items():
        ex = report["exchanges_median"].get(k)
        print(f"{k:<22}{v:>10.3f}{'' if ex is None else f'{ex:>11.0f}'}")
    print("\nround trips' worth of time beyond the local run: "
          + ", ".join(f"{k} {v}" for k, v in report["extra_round_trips"].items()))  # fmt: skip
    if report.get("big"):
        print(f"big: {report['big']}")
    print_verdicts(report, 28)


if __name__ == "__main__":
    sys.exit(main())
