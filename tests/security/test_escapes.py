"""Issue cases 5-11: the policy sees what the engine will mount, nothing printed can be forged,
secrets and host paths stay hidden, a hostile plan file is one error line."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from tests.security.conftest import BUSYBOX, Planted, StackFixture, assert_one_line, measured

DENY = "host-root-mount,engine-socket,host-path-mount"
APP = f'[containers.app]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "600"]\nstop_signal = "SIGKILL"\n'


def _toml(text: str) -> str:
    return json.dumps(text)  # a JSON string is a TOML basic string


@pytest.mark.parametrize(
    ("link_to", "rule"),
    [("/", "host-root-mount"), ("/etc", "host-root-mount"), ("/var/run/docker.sock", "engine-socket")],
)
@pytest.mark.parametrize("untrusted", [(), ("--untrusted",)])
def test_case_5_a_symlink_in_the_stack_folder_is_classified_by_its_target(
    hostile: StackFixture, link_to: str, rule: str, untrusted: tuple[str, ...]
) -> None:
    (hostile.dir / "rootlink").symlink_to(link_to)
    hostile.write(APP + 'volumes = ["./rootlink:/host:ro"]\n')
    started = time.monotonic()
    result = hostile.run("plan", str(hostile.file), *untrusted, "--deny", DENY, timeout=60)
    assert result.code == 1, result.both
    assert f"{rule}: volumes" in result.both and "(denied)" in result.err, result.both
    assert "Traceback" not in result.both
    assert time.monotonic() - started < 30
    assert not hostile.containers()


@pytest.mark.parametrize("source", ["//etc", "/./etc/", "/var/../etc", "//"])
def test_case_6_bind_sources_are_normalised(hostile: StackFixture, source: str) -> None:
    hostile.write(APP + f'volumes = ["{source}:/e:ro"]\n')
    result = hostile.run("plan", str(hostile.file), "--deny", "host-root-mount", timeout=60)
    assert result.code == 1 and "host-root-mount" in result.err, result.both


INJECTED = "\n\n# INJECTED HEADING\n> fake\n```\n````\n<details>"


def _forged_lines(markdown: str) -> list[str]:
    """Lines a value could only have produced by breaking out of its place."""
    return [
        line
        for line in markdown.splitlines()
        if line.startswith(("# INJECTED", "> fake", "```\n", "<details>x")) or line.strip() in ("```", "<details>")
    ]


def test_case_7_a_bind_source_cannot_inject_markdown(hostile: StackFixture) -> None:
    source = "./missing" + INJECTED
    hostile.write(APP + f"volumes = [{_toml(source + ':/data')}]\n")
    result = hostile.run("plan", str(hostile.file), "--untrusted", "--format", "markdown", timeout=60)
    assert "Traceback" not in result.both
    assert _forged_lines(result.out) == [], result.out
    assert result.out.count("\n````") == 2 or "````" not in result.out, result.out
    assert result.code == 1 and "bind-mount source ./missing" in result.err, result.both
    assert "bind\\-mount source \\.\\/missing" in result.out, result.out
    assert str(hostile.dir) not in result.out, result.out  # the runner's own path to the stack


def test_case_7_escape_bytes_reach_no_output(hostile: StackFixture) -> None:
    hostile.write(APP + 'env = { B = "\\u001b[2K\\u001b[1Ahidden\\u009b31m\\u202eevil" }\n')
    for fmt in ("text", "markdown", "json"):
        result = hostile.run("plan", str(hostile.file), "--untrusted", "--format", fmt, timeout=60)
        assert result.code == 0, result.both
        for bad in ("\x1b", "\x9b", "\u202e"):
            assert bad not in result.out, (fmt, result.out)
        assert "hidden" in result.out
    result = hostile.run("plan", str(hostile.file), "--untrusted", timeout=60)
    assert "\\x1b[2K" in result.out, result.out
    hostile.env["FORCE_COLOR"] = "1"  # rich draws the plan: its own colour codes, none of the stack's
    for extra in ((), ("--untrusted",)):
        result = hostile.run("plan", str(hostile.file), *extra, timeout=60)
        assert "\x1b[32m" in result.out and "\\x1b[2K" in result.out, result.out
        assert "\x1b[2K" not in result.out and "\x1b[1A" not in result.out, result.out


def _plan_file(path: Path, **plan: object) -> Path:
    from hostform.plans.planfile import KIND, VERSION

    doc = {
        "kind": KIND,
        "version": VERSION,
        "request": {"stack_path": "x.toml", "var": [], "var_file": [], "replace": [], "target": []},
        "desired": None,
        "plan": {
            "stack": "s",
            "mode": "normal",
            "fingerprint": "f",
            "conflicts": [],
            "warnings": [],
            "live": {},
            "key_known": False,
            "changes": [],
            **plan,
        },
    }
    path.write_text(json.dumps(doc))
    return path


def test_case_7_a_crafted_plan_file_cannot_inject(tmp_path: Path) -> None:
    planfile = _plan_file(
        tmp_path / "plan.json",
        stack="s`" + INJECTED,
        warnings=["w" + INJECTED],
        conflicts=["c" + INJECTED + "\x1b[2K"],
        fingerprint="``" + INJECTED,
    )
    for fmt in ("markdown", "text"):
        run = measured(None, "show", str(planfile), "--untrusted", "--format", fmt, cwd=tmp_path)
        assert run.result.code == 0, run.result.both
        assert _forged_lines(run.result.out) == [], run.result.out
        assert "\x1b" not in run.result.out
        assert "INJECTED" in run.result.out  # shown, as text
        assert run.seconds < 10


def test_case_8_a_reloaded_file_that_lost_its_secret_shows_no_diff(hostile: StackFixture, planted: Planted) -> None:
    body = (
        '[files.conf]\ncontent = "{content}"\nreload_signal = "SIGHUP"\n\n'
        f'[containers.app]\nimage = "{BUSYBOX}"\n'
        'command = ["sh", "-c", "trap \'\' HUP; sleep 600 & wait"]\n'
        'stop_signal = "SIGKILL"\nfiles = [{{ source = "conf", target = "/etc/app.conf" }}]\n'
    )
    hostile.write(body.format(content="hello\\n"))
    hostile.apply()
    hostile.write(body.format(content=f"password={{{{ secret('{planted.secret_name}') }}}}\\n"))
    hostile.apply()  # an in-place update: the container (and its label) stays
    hostile.write(body.format(content="bye\\n"))
    env = {k: v for k, v in hostile.env.items() if k != planted.secret_name}
    for extra in ((), ("--untrusted",), ("--format", "markdown"), ("--json",)):
        result = measured(hostile, "plan", str(hostile.file), *extra)
        assert result.result.code == 0, result.result.both
        planted.assert_absent(result.result.both)
        assert "diff hidden" in result.result.out or "diff hidden" in json.dumps(result.result.out)
    hostile.env.clear()
    hostile.env.update(env)  # even where the secret is not set at all
    result = hostile.run("plan", str(hostile.file))
    planted.assert_absent(result.both)


def test_case_9_a_short_secret_found_in_a_message_withholds_it(hostile: StackFixture) -> None:
    hostile.env["HF_SHORT_PW"] = "x"
    (hostile.dir / "app").mkdir()
    hostile.write(
        APP + "env = { PW = \"{{ secret('HF_SHORT_PW') }}\" }\n\n"
        '[containers.built]\nbuild = "./nowhere"\ncommand = ["sleep", "600"]\n'
    )
    result = hostile.run("plan", str(hostile.file), timeout=60)
    assert result.code == 1, result.both
    assert "(secret)" not in result.err.replace("PW=(secret)", ""), result.err
    for line in result.err.splitlines():
        assert "conte(" not in line and "(secret)t" not in line, line


@pytest.mark.parametrize(
    "written",
    ["~/.bashrc", "/proc/self/exe", "/proc/self/fd/1", "link", "linkdir/host-secret.txt", "../outside/x"],
)
def test_case_10_refusals_say_the_path_as_written(hostile: StackFixture, planted: Planted, written: str) -> None:
    (hostile.dir / "link").symlink_to(planted.host_file)
    (hostile.dir / "linkdir").symlink_to(planted.host_file.parent)
    hostile.write(f"[files.x]\nsource = {_toml(written)}\n")
    run = measured(hostile, "validate", str(hostile.file), "--untrusted")
    assert_one_line(run.result, "files.x.source", repr(written))
    text = run.result.both
    for host_path in (str(planted.host_file), str(planted.host_file.parent), os.path.expanduser("~"), "pipe:["):
        assert host_path not in text, text
    assert os.path.realpath(sys.executable) not in text, text
    assert run.seconds < 15


def test_case_11_a_deeply_nested_plan_file_is_one_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text('{"kind": "hostform-plan", "x": ' + "[" * 100_000)
    for extra in ((), ("--untrusted",)):
        run = measured(None, "show", str(deep), *extra, cwd=tmp_path)
        assert_one_line(run.result, "saved plan is damaged", "nested")
        assert run.seconds < 10


@pytest.mark.parametrize(
    ("field", "value", "said"),
    [
        ("changes", "x", "plan.changes must be a list"),
        ("changes", ["x"], "plan.changes[0] must be an object"),
        ("warnings", [1], "plan.warnings[0] must be a string"),
        ("live", [], "plan.live must be an object"),
        ("key_known", "yes", "plan.key_known must be true or false"),
    ],
)
def test_case_11_a_plan_file_of_wrong_types_names_the_field(
    tmp_path: Path, field: str, value: object, said: str
) -> None:
    from hostform.plans.planfile import VERSION

    planfile = _plan_file(tmp_path / "plan.json", **{field: value})
    doc = json.loads(planfile.read_text())
    doc["version"] = VERSION
    planfile.write_text(json.dumps(doc))
    for extra in ((), ("--untrusted",)):
        run = measured(None, "show", str(planfile), *extra, cwd=tmp_path)
        assert_one_line(run.result, f"saved plan is damaged: {said}")
