"""Benchmark: what reading the record adds to a no-op `plan` and to `drift` (docs/record.md).

    python bench/record_cost.py [--containers 100] [--runs 15]

It applies a stack of N busybox `sleep` containers, then runs `hostform plan
--detailed-exitcode` and `hostform drift` alternately with the record's
generations on the engine and without them (their volumes removed, then the
newest written back the same after each round), so both sides see the same load. It prints the medians and
the ratios (with / without) and removes the stack and its record at the end.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from hostform.runtime.engine import Engine
from hostform.runtime.record import VolumeRecordStore, read_book


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[3:5])} exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--image", default="hostform-test/busybox:1")
    args = parser.parse_args()
    stack = f"rcost{uuid.uuid4().hex[:6]}"
    work = Path(tempfile.mkdtemp(prefix="hostform-bench-"))
    body = f'[stack]\nname = "{stack}"\n'
    for i in range(args.containers):
        body += f'\n[containers.c{i}]\nimage = "{args.image}"\ncommand = ["sleep", "86400"]\nstop_signal = "SIGKILL"\n'
    (work / "hostform.toml").write_text(body)
    cli = [sys.executable, "-m", "hostform.plans.cli"]
    engine = Engine()
    times: dict[str, list[float]] = {k: [] for k in ("plan with", "plan without", "drift with", "drift without")}
    try:
        timed(cli + ["apply", str(work), "--auto-approve"], work)
        book = read_book(engine, stack)
        store = VolumeRecordStore(engine, stack, book.key or b"", book)
        generation = book.newest()
        assert generation is not None
        for i in range(args.runs):
            for what in ("plan", "drift"):
                extra = ["--detailed-exitcode"] if what == "plan" else []
                times[f"{what} with"].append(timed(cli + [what, str(work), *extra], work))
            for head in book.heads():
                store.remove(head)
            for what in ("plan", "drift"):
                extra = ["--detailed-exitcode"] if what == "plan" else []
                times[f"{what} without"].append(timed(cli + [what, str(work), *extra], work))
            store.write(generation)
            last = ", ".join(f"{k} {v[-1]:.3f}s" for k, v in times.items())
            print(f"run {i + 1}/{args.runs}: {last}", file=sys.stderr)
    finally:
        subprocess.run(cli + ["destroy", str(work), "--auto-approve"], cwd=work, capture_output=True)
        for v in engine.list_volumes(label=f"io.hostform.record={stack}"):  # generations, key
            engine.remove_volume(v["Name"])
    medians = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n{args.containers} containers, {args.runs} alternating runs each\n")
    for k, v in medians.items():
        print(f"{k:<14} {v:8.3f} s")
    for what in ("plan", "drift"):
        print(f"{what}: with the record / without  {medians[f'{what} with'] / medians[f'{what} without']:.3f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
