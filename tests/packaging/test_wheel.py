"""The wheel as a user installs it: only `hostform` at the top of site-packages, and the commands
work from that install (not from this checkout's editable one).

The wheel is built from a copy of the package folders (so parallel runs and the checkout's own
build/ never meet) without build isolation: the setuptools already installed builds it, offline.
It goes into a fresh virtual environment with pip (--no-deps, --no-index); the dependencies are
this environment's, reached through a .pth file placed after the venv's own site-packages.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import uuid
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "bin", "declare", "runtime", "plans", "templates")


def _run(*args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    assert proc.returncode == 0, f"{' '.join(map(str, args))} exited {proc.returncode}:\n{proc.stdout}{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", out, src)
    (found,) = out.glob("hostform-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", root)
    python = root / "bin" / "python"
    _run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel)
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip())
    # the dependencies (pydantic, jinja2, docker, ...) from this environment, after the venv's own
    (site / "zz_hostform_test_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    return root


def test_the_wheel_holds_hostform_alone(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        names = whl.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")]
        assert whl.read(top_level).decode().split() == ["hostform"]
    tops = {n.split("/", 1)[0] for n in names}
    # the wheel's .data folder holds the `hostform` command (bin/hostform), installed into bin/
    assert {t for t in tops if not t.endswith((".dist-info", ".data"))} == {"hostform"}, sorted(tops)
    (data,) = [t for t in tops if t.endswith(".data")]
    assert [n for n in names if n.startswith(f"{data}/")] == [f"{data}/scripts/hostform"]
    for packaged in (
        "hostform/plans/cli.py",
        "hostform/plans/py.typed",
        "hostform/templates/plan.md.j2",
        "hostform/templates/plan.schema.json",
        "hostform/templates/ops/hostform-drift.cron",
    ):
        assert packaged in names


def test_the_installed_commands_run_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    where = json.loads(
        _run(
            venv / "bin" / "python",
            "-c",
            "import json, hostform, hostform.plans.cli as c, hostform.templates as t; "
            "print(json.dumps([c.__file__, list(hostform.__path__), list(t.__path__)]))",
            cwd=tmp_path,
            env=env,
        )
    )
    for path in [where[0], *where[1], *where[2]]:
        assert path.startswith(str(venv)), f"hostform imported from {path}, not from the wheel's install"

    example = tmp_path / "static-site"
    shutil.copytree(REPO / "examples" / "static-site", example)
    toml = example / "hostform.toml"
    name = f"hf-wheel-{uuid.uuid4().hex[:8]}"  # a stack of its own: plan only reads, but never shares a name
    toml.write_text(toml.read_text(encoding="utf-8").replace('name = "static-site"', f'name = "{name}"'))

    hostform = venv / "bin" / "hostform"
    first = hostform.read_text(encoding="utf-8").splitlines()[0]
    assert first == f"#!{venv / 'bin' / 'python'}", first  # pip pointed the script at the venv's interpreter
    assert _run(hostform, "--version", cwd=tmp_path, env=env).startswith("hostform ")
    assert f"stack '{name}' is valid" in _run(hostform, "validate", example, cwd=tmp_path, env=env)
    markdown = _run(hostform, "plan", example, "--format", "markdown", cwd=tmp_path, env=env)
    assert f"### hostform plan: stack `{name}`" in markdown
    assert "| + create | `containers.web` |" in markdown
    assert "usage: hostform" in _run(
        venv / "bin" / "python", "-m", "hostform.plans.cli", "--help", cwd=tmp_path, env=env
    )
