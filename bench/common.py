"""What the benchmark scripts share: the machine they ran on, and how verdicts are printed."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import time
from typing import Any


def version_of(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=False).stdout.strip().splitlines()[0]
    except (OSError, IndexError):
        return "unknown"


def environment(**extra: str) -> dict[str, Any]:
    """Python, cores, the engine's version and when, plus what a script adds."""
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "docker": version_of(["docker", "version", "--format", "{{.Server.Version}}"]),
        **extra,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def timings(times: dict[str, list[float]]) -> dict[str, Any]:
    """Medians, minimums and maximums of each command's samples, rounded for the report."""
    return {
        "median_seconds": {k: round(statistics.median(v), 4) for k, v in times.items()},
        "min_seconds": {k: round(min(v), 4) for k, v in times.items()},
        "max_seconds": {k: round(max(v), 4) for k, v in times.items()},
    }


def print_verdicts(report: dict[str, Any], width: int) -> None:
    """The ratios, then each target met or MISSED."""
    print()
    for k, v in report["ratios"].items():
        print(f"{k:<{width}}{v:>8.2f}x")
    for k, v in report["targets"].items():
        print(f"target {k}: {'met' if v else 'MISSED'}")


def compile_hostform(py: str, env: dict[str, str] | None = None) -> str:
    """Compile hostform's bytecode where `py` imports it from, and say where that is.

    An installed package runs from bytecode pip compiled at install time. An editable install
    imports hostform through build/'s links, whose __pycache__ a compile of the source folders
    does not fill, and PYTHONDONTWRITEBYTECODE (set on some machines) keeps it empty: every run
    would compile every module again."""
    where = subprocess.run(
        [py, "-c", "import hostform.plans, os; print(os.path.dirname(os.path.dirname(hostform.plans.__file__)))"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.strip()
    subprocess.run([py, "-m", "compileall", "-q", where], check=True)
    return where


def forget_record(stack: str) -> None:
    """Remove the stack's record (destroy keeps it, the audit trail): a benchmark's stack is gone for good."""
    import docker

    api = docker.APIClient(version="1.41")
    for c in api.containers(all=True, filters={"label": f"io.hostform.record={stack}"}):  # an older hostform's
        api.remove_container(c["Id"], force=True)
    for v in api.volumes(filters={"label": f"io.hostform.record={stack}"}).get("Volumes") or []:
        api.remove_volume(v["Name"], force=True)
