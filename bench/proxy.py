"""Zero downtime through the edge proxy: 10 consecutive replacements of a route's container under
a constant load, side by side with the same load and no replacement.

    python bench/proxy.py [--rate 50] [--replacements 10] [--image hostform-test/debian:1]

Runs its own proxy (unique name, random loopback ports 18000-29999) and stack on the local
engine, and removes both. Reports: failed requests (target 0), the requests that take 5 s and
are in flight at each switch (target: all complete), and the p50/p99 latency of the requests
started during the switches against the baseline's (target: p99 rises by under 100 ms) and
against the requests started during a control: the same `hostform apply`, replacing a container
that is not behind the route (what the apply's own CPU costs the proxy on this machine).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from common import environment  # bench/ is on sys.path when a script runs

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests.integration.edge_load import Load, app_container, get  # noqa: E402

SIDE = """
[containers.side]
image = "{image}"
command = ["sleep", "infinity"]
env = {{ SIDE = "{side}" }}
update = {{ order = "start-first" }}
stop_grace_period = "1s"
"""


def hostform(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "hostform.plans.cli", *args], capture_output=True, text=True, env={**os.environ, **env}
    )
    if proc.returncode != 0:
        raise SystemExit(f"hostform {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}")
    return proc


def free_port() -> int:
    while True:
        port = random.randint(18000, 29999)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def summary(latencies: list[float]) -> dict[str, float]:
    return {
        "requests": len(latencies),
        "p50_ms": round(statistics.median(latencies) * 1000, 1) if latencies else 0.0,
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "max_ms": round(max(latencies, default=0.0) * 1000, 1),
    }


def run(rate: float, replacements: int, image: str, baseline_seconds: float, controls: int) -> dict[str, Any]:
    proxy = f"hfbench{uuid.uuid4().hex[:6]}"
    stack = f"hfbench{uuid.uuid4().hex[:6]}"
    env = {"HOSTFORM_PROXY": proxy}
    http = free_port()
    host = f"{stack}.bench"
    folder = Path(tempfile.mkdtemp(prefix="hostform-bench-proxy-"))
    stack_file = folder / "hostform.toml"

    def write(version: str, side: str = "0") -> None:
        text = app_container(host, version).replace('image = "hostform-test/debian:1"', f'image = "{image}"')
        # the control: a container off the route, replaced by the same kind of apply
        text += SIDE.format(image=image, side=side)
        stack_file.write_text(f'[stack]\nname = "{stack}"\n{text}', encoding="utf-8")

    hostform("proxy", "up", "--name", proxy, "--http", f"127.0.0.1:{http}", "--image", image, env=env)
    try:
        write("v0")
        hostform("apply", str(stack_file), "--auto-approve", env=env)
        with Load(http, host, rate=rate, workers=8) as base:
            time.sleep(baseline_seconds)
        windows: list[tuple[float, float]] = []
        control: list[tuple[float, float]] = []
        slow: list[tuple[int, str, float]] = []
        switch_seconds: list[float] = []
        with Load(http, host, rate=rate, workers=8, limit=3600) as load:
            for i in range(1, controls + 1):  # the same apply, replacing the container off the route
                write("v0", side=str(i))
                started = time.monotonic()
                hostform("apply", str(stack_file), "--auto-approve", env=env)
                control.append((started, time.monotonic()))
                time.sleep(1.0)
            for i in range(1, replacements + 1):
                t = threading.Thread(target=lambda: slow.append(get(http, host, "/slow", timeout=30)))
                t.start()
                time.sleep(0.5)  # the slow request is in flight on the old container
                write(f"v{i}", side=str(controls))
                started = time.monotonic()
                hostform("apply", str(stack_file), "--auto-approve", env=env)
                windows.append((started, time.monotonic()))
                switch_seconds.append(time.monotonic() - started)
                t.join()
                time.sleep(1.0)
        during = [took for at, took in load.latencies if any(a <= at <= b for a, b in windows)]
        beside = [took for at, took in load.latencies if any(a <= at <= b for a, b in control)]
        base_summary = summary([took for _, took in base.latencies])
        switch_summary = summary(during)
        control_summary = summary(beside)
        return {
            "environment": environment(image=image, rate=str(rate)),
            "replacements": replacements,
            "requests": load.total,
            "failed": len(load.failures),
            "failures": load.failures[:10],
            "versions_served": dict(load.answers),
            "slow_in_flight": {
                "sent": len(slow),
                "completed_200": sum(1 for code, _, _ in slow if code == 200),
                "seconds": [round(s, 2) for _, _, s in slow],
            },
            "baseline": {**base_summary, "failed": len(base.failures)},
            "during_switches": switch_summary,
            "during_control_applies": control_summary,
            "p99_rise_ms": round(switch_summary["p99_ms"] - base_summary["p99_ms"], 1),
            "p99_rise_over_control_ms": round(switch_summary["p99_ms"] - control_summary["p99_ms"], 1),
            "apply_seconds_median": round(statistics.median(switch_seconds), 2),
        }
    finally:
        subprocess.run(
            [sys.executable, "-m", "hostform.plans.cli", "destroy", str(stack_file), "--auto-approve"],
            capture_output=True,
            env={**os.environ, **env},
        )
        subprocess.run(
            [sys.executable, "-m", "hostform.plans.cli", "proxy", "down", "--name", proxy, "--volumes"],
            capture_output=True,
            env={**os.environ, **env},
        )
        remove_records(proxy, stack)


def remove_records(*stacks: str) -> None:
    """The records the bench's applies left (this run's own, unique names)."""
    import docker

    api = docker.APIClient(version="1.41")
    for name in stacks:
        for c in api.containers(all=True, filters={"label": f"io.hostform.record={name}"}):
            api.remove_container(c["Id"], force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    parser.add_argument("--replacements", type=int, default=10)
    parser.add_argument("--baseline", type=float, default=20.0, help="seconds of load with no switch")
    parser.add_argument("--image", default="hostform-test/debian:1")
    parser.add_argument("--controls", type=int, default=3, help="applies replacing a container off the route")
    args = parser.parse_args()
    report = run(args.rate, args.replacements, args.image, args.baseline, args.controls)
    print(json.dumps(report, indent=2))
    verdicts = [
        ("failed requests", report["failed"] == 0, f"{report['failed']} of {report['requests']}"),
        (
            "slow requests in flight complete",
            report["slow_in_flight"]["completed_200"] == report["slow_in_flight"]["sent"],
            f"{report['slow_in_flight']['completed_200']} of {report['slow_in_flight']['sent']}",
        ),
        ("p99 rise under 100 ms", report["p99_rise_ms"] < 100, f"{report['p99_rise_ms']} ms"),
        (
            "p99 rise over the control under 100 ms",
            report["p99_rise_over_control_ms"] < 100,
            f"{report['p99_rise_over_control_ms']} ms",
        ),
    ]
    for what, ok, detail in verdicts:
        print(f"{what:36} {'met' if ok else 'NOT MET'}: {detail}")


if __name__ == "__main__":
    main()
