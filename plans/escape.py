"""Strings from a stack, a label or a plan file, escaped for where they are printed.

One function per output kind, used at the one place that kind is written:

- `for_terminal`: every line hostform prints (plans.render.print_lines, the error lines of
  plans.cli): control characters, line separators and bidirectional overrides are shown
  escaped (`\\x1b`, `\\n`, `\\u202e`), so no value can move the cursor, clear a line, start a
  line of its own or reorder what a reviewer reads.
- `markdown_text`: the default of every `{{ }}` in templates/plan.md.j2 (the environment's
  `finalize`): the same escapes, then every ASCII punctuation character backslash-escaped,
  so a value is plain text wherever it lands: it cannot start a block (a heading, a quote,
  a list, a fence), close a table cell, open a link, an image or an HTML tag.
- `markdown_code`: a value as an inline code span, its fence longer than any run of
  backticks inside it (CommonMark's rule); `markdown_cell_code` for a table cell (`|` escaped).
- `markdown_fenced`: a value inside the template's ````diff block: control characters
  escaped, so it stays on the line the template starts with its own mark and can never
  close the fence.
"""

from __future__ import annotations

import re

# C0 but tab, DEL, C1, the line and paragraph separators, bidirectional embeddings and isolates
_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]")
_NAMED = {"\n": "\\n", "\r": "\\r"}
_PUNCTUATION = re.compile(r"""([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~])""")
_BACKTICKS = re.compile("`+")


class Verbatim(str):
    """Markdown that is already escaped for its place (the template's finalize leaves it alone)."""

    __slots__ = ()


def _escaped(match: re.Match[str]) -> str:
    char = match.group(0)
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def for_terminal(text: str) -> str:
    """`text` with every control character shown escaped (tab stays a tab)."""
    return _CONTROL.sub(_escaped, text)


def markdown_text(value: object) -> str:
    """Any value as plain markdown text (what `{{ value }}` prints in the markdown template)."""
    if isinstance(value, Verbatim):
        return value
    return _PUNCTUATION.sub(r"\\\1", for_terminal(str(value)))


def markdown_code(value: object) -> Verbatim:
    """`value` as an inline code span: fenced by one more backtick than its longest run."""
    text = for_terminal(str(value))
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if text.startswith("`") or text.endswith("`") or not text.strip() else text
    return Verbatim(f"{fence}{padded}{fence}")


def markdown_cell_code(value: object) -> Verbatim:
    """An inline code span in a table cell: GitHub splits cells at `|` even inside code."""
    return Verbatim(markdown_code(value).replace("|", "\\|"))


def markdown_fenced(value: object) -> Verbatim:
    """A value inside a fenced block whose every line the template starts with its own mark."""
    return Verbatim(for_terminal(str(value)))
