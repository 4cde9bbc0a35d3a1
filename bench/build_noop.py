"""Benchmark: a no-op `hostform plan` on 10 services built from a 5,000-file context,
against the same plan on the same images without `build`.

    python bench/build_noop.py [--services 10] [--files 5000] [--runs 15]

It writes a build context of N files (50 folders; a .dockerignore leaving out a
tenth of them), and two stacks of the same services:

  built     each service `build = { context = "ctx", args = { SERVICE = "sN" } }`: N content tags
  plain     each service `image = "<that tag>"`: the same images, nothing to hash

applies both, then measures, interleaved and in a rotating order, `hostform plan
STACK --detailed-exitcode` with nothing to do (exit 0) on each, and once more the
built stack with an empty context cache (every file read and hashed: the first
plan on a machine). It prints medians and ratios (target: built within 1.2x of
plain) and writes bench/results/build_noop.json. It removes what it made: both
stacks (hostform destroy) and the images built for them (by the
stack label hostform puts on them).
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

from common import compile_hostform, environment, print_verdicts, timings  # bench/ is on sys.path when a script runs

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "build_noop.json"
DOCKERFILE = "FROM {image}\nCOPY . /app\nARG SERVICE\nLABEL org.example.service=$SERVICE\n"


def make_context(root: Path, files: int, image: str) -> None:
    folders = 50
    for i in range(files):
        folder = root / f"pkg{i % folders:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"mod{i // folders:04d}.py" if i % 10 else f"mod{i // folders:04d}.log"
        (folder / name).write_text(f"VALUE = {i}\n")
    (root / ".dockerignore").write_text("**/*.log\n")
    (root / "Dockerfile").write_text(DOCKERFILE.format(image=image))


def stack_text(name: str, services: int, images: list[str] | None) -> str:
    parts = [f'[stack]\nname = "{name}"\n']
    for i in range(services):
        source = f'image = "{images[i]}"' if images else f'build = {{ context = "ctx", args = {{ SERVICE = "s{i}" }} }}'
        parts.append(f'[containers.s{i:02d}]\n{source}\ncommand = ["sleep", "86400"]\nstop_signal = "SIGKILL"\n')
    return "\n".join(parts)


CPU: dict[str, list[float]] = {}  # CPU seconds (user + system) of each measured run: less swayed by a busy machine


def run(cmd: list[str], env: dict[str, str], ok: tuple[int, ...] = (0,), name: str = "") -> tuple[float, str]:
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    took = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if name:
        CPU.setdefault(name, []).append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if proc.returncode not in ok:
        raise SystemExit(f"{' '.join(cmd[2:5])}... exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return took, proc.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=10)
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--image", default="hostform-test/busybox:1")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so a timeout still cleans up
    tag = uuid.uuid4().hex[:6]
    work = Path(tempfile.mkdtemp(prefix="hostform-bench-build-"))
    built, plain = work / "built", work / "plain"
    built.mkdir()
    plain.mkdir()
    make_context(built / "ctx", args.files, args.image)
    (built / "hostform.toml").write_text(stack_text(f"bench-build-{tag}", args.services, None))
    py = sys.executable
    hostform = [py, "-m", "hostform.plans.cli"]
    cache = work / "cache"
    env = {**os.environ, "PYTHONPATH": str(REPO), "XDG_CACHE_HOME": str(cache)}
    where = compile_hostform(py, env)  # as a user runs it: from bytecode
    times: dict[str, list[float]] = {"built": [], "plain": [], "built-cold-cache": []}
    try:
        print(f"building and applying {args.services} services over {args.files} files ...", file=sys.stderr)
        setup_built, _ = run(hostform + ["apply", str(built), "--auto-approve"], env)
        _, listing = run(hostform + ["plan", str(built), "--json"], env)
        images = sorted({c["engine_name"] for c in json.loads(listing)["resource_changes"] if c["kind"] == "image"})
        tags = [
            json.loads(
                subprocess.run(
                    ["docker", "inspect", f"bench-build-{tag}-s{i:02d}"], capture_output=True, text=True, check=True
                ).stdout
            )[0]["Config"]["Image"]
            for i in range(args.services)
        ]
        assert not images and all(":ctx-" in t for t in tags), (images, tags)
        (plain / "hostform.toml").write_text(stack_text(f"bench-plain-{tag}", args.services, tags))
        run(hostform + ["apply", str(plain), "--auto-approve"], env)
        commands = {
            "built": hostform + ["plan", str(built), "--detailed-exitcode"],
            "plain": hostform + ["plan", str(plain), "--detailed-exitcode"],
        }
        for cmd in commands.values():  # warm-up (page cache, engine caches)
            run(cmd, env)
        order = list(commands)
        for i in range(args.runs):
            for name in order[i % len(order) :] + order[: i % len(order)]:
                times[name].append(run(commands[name], env, name=name)[0])
            shutil.rmtree(cache / "hostform" / "contexts", ignore_errors=True)
            times["built-cold-cache"].append(run(commands["built"], env, name="built-cold-cache")[0])
            run(commands["built"], env)  # the cache written again before the next round
            print(
                f"run {i + 1}/{args.runs}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items()), file=sys.stderr
            )
    finally:
        print("cleaning up ...", file=sys.stderr)
        for folder in (plain, built):
            if (folder / "hostform.toml").exists():
                done = subprocess.run(
                    hostform + ["destroy", str(folder), "--auto-approve"], capture_output=True, text=True, env=env
                )
                if done.returncode != 0:
                    print(f"cleanup: destroy {folder.name} exited {done.returncode}:\n{done.stderr}", file=sys.stderr)
        # prune-images keeps the images a stack declares: the bench's own are removed by their label
        listed = subprocess.run(
            ["docker", "image", "ls", "-q", "--filter", f"label=io.hostform.stack=bench-build-{tag}"],
            capture_output=True,
            text=True,
        ).stdout.split()
        if listed:
            subprocess.run(["docker", "image", "rm", "-f", *sorted(set(listed))], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)

    medians = {k: statistics.median(v) for k, v in times.items()}
    cpu = {k: statistics.median(v) for k, v in CPU.items()}
    report = {
        "benchmark": "build_noop",
        "services": args.services,
        "files": args.files,
        "runs": args.runs,
        **timings(times),
        "median_cpu_seconds": {k: round(v, 4) for k, v in cpu.items()},
        "ratios": {
            "built/plain": round(medians["built"] / medians["plain"], 3),
            "built-cold-cache/plain": round(medians["built-cold-cache"] / medians["plain"], 3),
            "built/plain (cpu)": round(cpu["built"] / cpu["plain"], 3),
        },
        "targets": {"built/plain <= 1.2": medians["built"] / medians["plain"] <= 1.2},
        "setup_seconds": {"build and apply": round(setup_built, 2)},
        "samples_seconds": {k: [round(x, 4) for x in v] for k, v in times.items()},
        "environment": environment(bytecode=f"compiled before the runs (python -m compileall {where})"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    med, lo, hi = report["median_seconds"], report["min_seconds"], report["max_seconds"]
    print(f"\nno-op plan, {args.services} services, {args.files}-file context, {args.runs} interleaved runs\n")
    print(f"{'plan':<18}{'median s':>10}{'min s':>10}{'max s':>10}{'cpu s':>10}")
    for k in med:
        print(f"{k:<18}{med[k]:>10.3f}{lo[k]:>10.3f}{hi[k]:>10.3f}{cpu[k]:>10.3f}")
    print_verdicts(report, 24)
    return 0


if __name__ == "__main__":
    sys.exit(main())
