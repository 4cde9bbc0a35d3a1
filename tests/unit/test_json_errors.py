"""A command asked for JSON that fails still writes JSON on standard output: the errors with
their file, line and key, and the same exit code (1); the lines on standard error stay."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hostform.plans.cli import main

BAD = '[stack]\nname = "bad"\n\n[containers.web]\nimgae = "x"\n'


@pytest.fixture
def bad_stack(tmp_path: Path) -> Path:
    path = tmp_path / "hostform.toml"
    path.write_text(BAD, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "args",
    [["plan", "--json"], ["plan", "--format", "json"], ["drift", "--json"]],
    ids=["plan --json", "plan --format json", "drift --json"],
)
def test_an_invalid_stack_gives_a_json_error_document(
    bad_stack: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([*args, str(bad_stack)])
    out, err = capsys.readouterr()
    assert code == 1
    doc = json.loads(out)
    assert doc["error"] is True
    (error,) = doc["errors"]
    assert error["file"] == str(bad_stack) and error["line"] == 5 and error["key"] == "containers.web.imgae"
    assert error["message"].startswith("unknown key 'imgae' in containers.web; did you mean 'image'?")
    assert err.startswith(f"error: {bad_stack}:5: containers.web.imgae: unknown key")


def test_apply_json_ends_its_event_lines_with_an_error_event(
    bad_stack: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["apply", "--json", "--auto-approve", str(bad_stack)])
    out, _ = capsys.readouterr()
    assert code == 1
    (line,) = out.splitlines()
    event = json.loads(line)
    assert event["event"] == "error" and event["errors"][0]["key"] == "containers.web.imgae"


def test_an_error_without_a_place_has_null_file_line_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.plan").write_text("{not json", encoding="utf-8")
    code = main(["show", "--format", "json", str(tmp_path / "bad.plan")])
    out, _ = capsys.readouterr()
    assert code == 1
    (error,) = json.loads(out)["errors"]
    assert error["line"] is None and error["key"] is None and error["message"]


def test_text_output_stays_as_it_was(bad_stack: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", str(bad_stack)]) == 1
    assert capsys.readouterr().out == ""
