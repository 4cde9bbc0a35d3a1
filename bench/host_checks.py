"""Benchmark: what the plan-time host network checks cost, on a 100-container stack.

    python bench/host_checks.py [--containers 100] [--every 10] [--runs 15] [--image hostform-test/busybox:1]

It applies a stack of N busybox containers, every `--every`th publishing a fixed
port on 127.0.0.1 (so the checks have sockets, engine proxies and published
ports to look at), then measures, interleaved and in a rotating order, N runs each of:

  plan      `hostform plan STACK --detailed-exitcode` with nothing to do (exit 0), the whole command
  noop      in a fresh process: load, observe and plan as `hostform plan` does, then time the
            host checks alone on that no-op plan (importing plans.hostcheck included)
  replace   the same on a plan replacing one container that publishes a port (`--replace c000`):
            the checks read every fact (pyroute2's import, the netlink dumps, the engine's two
            listings, /proc for the owners of the sockets in question), timed stage by stage

and prints medians and ratios, also written to bench/results/host_checks.json.
Everything it created is removed at the end (the stack, by hostform destroy).
Target: the checks cost no more than 10 ms on the no-op plan.
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
import uuid
from pathlib import Path

from common import compile_hostform, environment, print_verdicts  # bench/ is on sys.path when a script runs

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "host_checks.json"

DRIVER = """
import json, os, sys, time
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
from hostform.declare.load import load
from hostform.plans.diff import PlanOptions, make_plan
from hostform.runtime.engine import Engine
from hostform.runtime.observe import observe_stack

loaded = load(sys.argv[1])
engine = Engine()
plan = make_plan(loaded, observe_stack(engine, loaded), PlanOptions(replace=tuple(sys.argv[2:])))
out = {"actions": len(plan.actionable)}
started = time.perf_counter()  # importing the checks is counted: every plan loads them
from hostform.plans.hostcheck import check, listeners_to_explain, wanted, with_host_checks
checked = with_host_checks(engine, loaded, plan)
out["checks"] = time.perf_counter() - started
out["conflicts"] = len(checked.conflicts) - len(plan.conflicts)
out["read"] = "pyroute2" in sys.modules
if sys.argv[2:]:  # stage by stage, in the same (now warm) process
    from hostform.runtime.enginenet import NetworkFacts, read_engine_net
    from hostform.runtime.hostnet import read_host
    t = [time.perf_counter()]
    host = read_host(None, wanted(loaded, plan)); t.append(time.perf_counter())
    engine_net = read_engine_net(engine); t.append(time.perf_counter())
    host = host.with_owners(listeners_to_explain(loaded, plan, NetworkFacts(host, engine_net)))
    t.append(time.perf_counter())
    check(loaded, plan, NetworkFacts(host, engine_net)); t.append(time.perf_counter())
    out["stages"] = dict(zip(("netlink", "engine", "proc", "check"), (b - a for a, b in zip(t, t[1:]))))
print(json.dumps(out))
"""


def stack_file(name: str, image: str, n: int, every: int, base: int) -> str:
    parts = [f'[stack]\nname = "{name}"\n']
    for i in range(n):
        ports = f'ports = ["127.0.0.1:{base + i}:8080"]\n' if i % every == 0 else ""
        parts.append(
            f'[containers.c{i:03d}]\nimage = "{image}"\npull = "never"\n'
            f'command = ["sleep", "86400"]\nstop_signal = "SIGKILL"\n{ports}'
        )
    return "\n".join(parts)


def free_base(count: int) -> int:
    """A run of loopback ports nothing listens on (checked by binding each)."""
    import socket

    for base in range(41000, 60000, 1000):
        ok = True
        for port in range(base, base + count):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
                    break
        if ok:
            return base
    raise SystemExit("no free run of loopback ports")


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    took = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])}... exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return took


def driver(cmd: list[str], env: dict[str, str]) -> dict:  # type: ignore[type-arg]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if proc.returncode != 0:
        raise SystemExit(f"driver exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--every", type=int, default=10, help="every Nth container publishes a port")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--image", default="hostform-test/busybox:1")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so a timeout still cleans up
    name = f"bench-hostnet-{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="hostform-bench-"))
    toml = work / "hostform.toml"
    toml.write_text(stack_file(name, args.image, args.containers, args.every, free_base(args.containers)))
    py = sys.executable
    hostform = [py, "-m", "hostform.plans.cli"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    commands = {
        "plan": hostform + ["plan", str(toml), "--detailed-exitcode"],
        "noop": [py, "-c", DRIVER, str(toml)],
        "replace": [py, "-c", DRIVER, str(toml), "c000"],
    }
    plan_times: list[float] = []
    samples: dict[str, list[dict]] = {"noop": [], "replace": []}  # type: ignore[type-arg]
    where = compile_hostform(py, env)  # as a user runs it: from bytecode
    try:
        print(f"setting up {args.containers} containers ...", file=sys.stderr)
        timed(hostform + ["apply", str(toml), "--auto-approve"], env)
        timed(commands["plan"], env)  # warm-up
        for key in samples:
            driver(commands[key], env)
        order = list(commands)
        for i in range(args.runs):
            for key in order[i % len(order) :] + order[: i % len(order)]:
                if key == "plan":
                    plan_times.append(timed(commands[key], env))
                else:
                    samples[key].append(driver(commands[key], env))
            noop, replaced = samples["noop"][-1]["checks"] * 1000, samples["replace"][-1]["checks"] * 1000
            print(
                f"run {i + 1}/{args.runs}: plan {plan_times[-1]:.3f}s, checks on the no-op plan {noop:.3f} ms, "
                f"on a replacement {replaced:.1f} ms",
                file=sys.stderr,
            )
    finally:
        print("cleaning up ...", file=sys.stderr)
        done = subprocess.run(
            hostform + ["destroy", str(toml), "--auto-approve"], capture_output=True, text=True, env=env
        )
        if done.returncode != 0:
            print(f"cleanup: hostform destroy exited {done.returncode}:\n{done.stderr}", file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)

    assert all(s["actions"] == 0 and not s["read"] for s in samples["noop"]), "the no-op plan read host facts"
    assert all(s["actions"] == 1 and s["read"] and s["conflicts"] == 0 for s in samples["replace"])
    ms = lambda xs: round(statistics.median(xs) * 1000, 3)  # noqa: E731
    plan_ms = ms(plan_times)
    noop_ms = ms([s["checks"] for s in samples["noop"]])
    replace_ms = ms([s["checks"] for s in samples["replace"]])
    stages = {k: ms([s["stages"][k] for s in samples["replace"]]) for k in ("netlink", "engine", "proc", "check")}
    report = {
        "benchmark": "host_checks",
        "containers": args.containers,
        "publishing": len(range(0, args.containers, args.every)),
        "runs": args.runs,
        "median_ms": {
            "no-op plan (whole command)": plan_ms,
            "checks on the no-op plan": noop_ms,
            "checks on a plan replacing one container (cold: pyroute2 imported)": replace_ms,
            **{f"  warm {k}": v for k, v in stages.items()},
        },
        "ratios": {
            "noop checks / no-op plan": round(noop_ms / plan_ms, 5),
            "replace checks / no-op plan": round(replace_ms / plan_ms, 3),
        },
        "targets": {"checks on the no-op plan <= 10 ms": noop_ms <= 10},
        "samples": {"plan_s": [round(x, 4) for x in plan_times], **samples},
        "environment": environment(bytecode=f"compiled before the runs (python -m compileall {where})"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        f"\nhost network checks, {args.containers} containers ({report['publishing']} publishing a port), "
        f"{args.runs} interleaved runs each\n"
    )
    for k, v in report["median_ms"].items():
        print(f"{k:<72}{v:>10.3f} ms")
    print_verdicts(report, 32)
    return 0


if __name__ == "__main__":
    sys.exit(main())
