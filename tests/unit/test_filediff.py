"""Unified diffs of config files in a plan: text, CRLF, binary and secret files."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import cast

from hostform.declare.load import LoadedStack, load
from hostform.plans.filediff import BINARY, HIDDEN, with_file_diffs
from hostform.plans.model import Action, Change, Plan, Reason, ReasonKind
from hostform.runtime.engine import Engine

TARGET = "/etc/app.conf"


class LiveFiles:
    """An engine that only reads one file back (all with_file_diffs asks of it)."""

    def __init__(self, data: bytes | None) -> None:
        self.data = data

    def read_file(self, ident: str, path: str, limit: int = 1 << 20) -> bytes | None:
        assert (ident, path) == ("cid", TARGET)
        return self.data


def stack_with(tmp_path: Path, new: bytes | None = None, content: str | None = None) -> LoadedStack:
    if new is not None:
        (tmp_path / "app.conf").write_bytes(new)
        origin = 'source = "app.conf"'
    else:
        origin = f"content = {json.dumps(content)}"
    (tmp_path / "hostform.toml").write_text(
        textwrap.dedent(
            f"""\
            [stack]
            name = "t"
            [files.conf]
            {origin}
            [containers.web]
            image = "x"
            files = [{{ source = "conf", target = "{TARGET}" }}]
            """
        )
    )
    return load(tmp_path / "hostform.toml", environ={"PW": "hunter2"})


def diff_of(loaded: LoadedStack, live: bytes | None) -> str:
    reason = Reason(ReasonKind.FIELD, f"files[{TARGET}].sha256", "sha256:aaaa", "sha256:bbbb")
    change = Change("containers.web", "container", "web", "t-web", Action.REPLACE, (reason,), 1, "cid")
    plan = with_file_diffs(Plan("t", (change,), "fp"), loaded, cast(Engine, LiveFiles(live)))
    return plan.changes[0].reasons[0].diff


def test_a_text_source_file_is_diffed(tmp_path: Path) -> None:
    diff = diff_of(stack_with(tmp_path, b"a = 1\nb = 3\n"), b"a = 1\nb = 2\n")
    assert diff.splitlines() == [
        f"--- {TARGET} (live)",
        f"+++ {TARGET} (new)",
        "@@ -1,2 +1,2 @@",
        " a = 1",
        "-b = 2",
        "+b = 3",
    ]


def test_crlf_line_endings_are_a_change_the_diff_shows(tmp_path: Path) -> None:
    diff = diff_of(stack_with(tmp_path, b"a = 1\r\n"), b"a = 1\n")
    assert "-a = 1\n+a = 1\r" in diff


def test_a_binary_source_file_is_not_diffed(tmp_path: Path) -> None:
    loaded = stack_with(tmp_path, b"\x89PNG\r\n\x1a\n\xff\x00")
    assert diff_of(loaded, b"plain text\n") == BINARY == "(binary file changed)"
    assert diff_of(stack_with(tmp_path, b"text\n"), b"\xff\xfe") == BINARY  # the live file is binary


def test_inline_content_and_secrets(tmp_path: Path) -> None:
    assert "+new" in diff_of(stack_with(tmp_path, content="new\n"), b"old\n")
    assert diff_of(stack_with(tmp_path, content="{{ secret('PW') }}"), b"old\n") == HIDDEN


def test_a_file_that_cannot_be_read_back_has_no_diff(tmp_path: Path) -> None:
    assert diff_of(stack_with(tmp_path, b"\xff"), None) == ""
