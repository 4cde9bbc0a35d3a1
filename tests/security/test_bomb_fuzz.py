"""Hostile templates and YAML bombs, generated, run through the real command line under the hard
limits of untrusted work: every case ends within its bound, with its peak memory near the limit,
and either succeeds or fails with exactly one error line (never a traceback)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.conftest import Measured, measured

# Smaller limits than the defaults, so that a case that runs into one costs seconds, not a minute.
LIMITS = ("--max-memory", "256", "--max-cpu", "3", "--max-seconds", "6")
SECONDS = 12.0  # a case's bound: the wall limit, the grace, and an interpreter's start on a busy machine
PEAK_MIB = 384  # 256 MiB of data, plus code and libraries

# fmt: off
ATOMS = [
    "'a'*1000000", "'ab'*99999", "[1]*100000", "['x'*100000]*100", "range(100000)", "range(99999)|list",
    "'%s'", "'{}'", "vars", "namespace(x=[1])", "lipsum", "'x'", "99", "9**99",
]
WRAPS = [
    "({})|replace('a','a'*1000)", "({})|replace('a','aa')|replace('a','aa')", "({})|join('b'*100000)",
    "({})|join", "({})*1000", "[{}]*10000", "'%s%s'|format({},{})", "({})|list", "({})|string",
    "({})|center(4000)", "({})~({})", "({})|batch(3)|list", "({})|map('upper')|join", "({})|sum(start=[])",
    "({})|unique|list", "({})|reverse|join", "({}).format({})", "({})|wordwrap(10)", "({})|indent(4000)",
]
# fmt: on


@st.composite
def expressions(draw: st.DrawFn) -> str:
    expr = draw(st.sampled_from(ATOMS))
    for wrap in draw(st.lists(st.sampled_from(WRAPS), min_size=1, max_size=4)):
        expr = wrap.replace("{}", expr)
    return expr


templates = st.one_of(
    expressions().map(lambda e: "{{ " + e + " }}"),
    expressions().map(lambda e: "{% for i in range(100000) %}{{ " + e + " }}{% endfor %}"),
    expressions().map(
        lambda e: "{% for i in range(99999) %}{% for j in range(99999) %}{{ i }}{% endfor %}{% endfor %}" + e[:0]
    ),
    expressions().map(lambda e: "{% macro f(n) %}{{ f(n ~ 'x') }}{{ " + e + " }}{% endmacro %}{{ f('') }}"),
    expressions().map(
        lambda e: (
            "{% set ns = namespace(v=" + e + ") %}{% for i in range(30) %}"
            "{% set ns.v = ns.v ~ ns.v %}{% endfor %}{{ ns.v }}"
        )
    ),
)


def _toml(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _assert_bounded(run: Measured, what: str) -> None:
    assert run.seconds < SECONDS, (what, run)
    assert run.peak_mib < PEAK_MIB, (what, run)
    assert "Traceback" not in run.result.both, (what, run.result.both)
    if run.result.code != 0:
        assert run.result.code == 1, (what, run.result.both)
        assert len(run.result.err.strip().splitlines()) == 1, (what, run.result.err)


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(template=templates)
def test_hostile_templates_under_the_limits(tmp_path_factory, template: str) -> None:  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("tpl")
    (folder / "hostform.toml").write_text(
        f'[stack]\nname = "fuzz"\n\n[containers.app]\nimage = "busybox"\nenv = {{ A = "{_toml(template)}" }}\n'
    )
    run = measured(None, "validate", str(folder), "--untrusted", *LIMITS, timeout=60, cwd=folder)
    _assert_bounded(run, template)


@st.composite
def bombs(draw: st.DrawFn) -> str:
    levels = draw(st.integers(1, 12))
    width = draw(st.integers(2, 12))
    mapping = draw(st.booleans())
    if mapping:  # merge keys: each level merges the one below several times over
        lines = ["x-a0: &a0 {k0: lol, k1: lol}"]
        lines += [
            f"x-a{i}: &a{i}\n  " + "\n  ".join(f"m{j}: *a{i - 1}" for j in range(width)) for i in range(1, levels + 1)
        ]
    else:
        lines = ["x-a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
        lines += [f"x-a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels + 1)]
    where = draw(st.sampled_from(["command", "environment", "labels", "x-top"]))
    value = f"*a{levels}"
    service = f"    {where}: {value}\n" if where != "x-top" else ""
    top = f"x-top: {value}\n" if where == "x-top" else ""
    return "\n".join(lines) + f"\n{top}services:\n  s:\n    image: busybox\n{service}"


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(bomb=bombs())
def test_yaml_bombs_under_the_limits(tmp_path_factory, bomb: str) -> None:  # type: ignore[no-untyped-def]
    folder: Path = tmp_path_factory.mktemp("yaml")
    (folder / "docker-compose.yml").write_text(bomb)
    run = measured(None, "import", "compose", str(folder / "docker-compose.yml"), *LIMITS, timeout=60, cwd=folder)
    _assert_bounded(run, bomb)
