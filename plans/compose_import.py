"""`hostform import compose`: a Compose project written as a stack file.

read (declare.compose) -> map (plans.compose_map) -> write TOML with tomlkit,
each table and key followed by a comment naming its Compose source line, and
what was not imported listed at the end (and on stderr). The same input gives
the same bytes: nothing in the output depends on time or dict order of the run.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hostform.declare.compose import Interpolated, Source, jinja_literal, load_compose
from hostform.plans.compose_map import MappedStack, Skipped, map_project

_INLINE = ("healthcheck", "depends_on", "update")
_SUBTABLES = ("env", "labels", "options", "driver_opts")
_VAR_REF = re.compile(r"\{\{ vars\.([A-Za-z_][A-Za-z0-9_]*) \}\}")


def import_compose(
    files: Sequence[str],
    out: str | None,
    profiles: Sequence[str] = (),
    name: str | None = None,
    existing_volumes: bool = False,
    target: str = "host",
) -> tuple[str, list[Skipped], dict[str, str]]:
    """The stack file's text, what was left out, and the secrets to set when applying."""
    project = load_compose(files, profiles=profiles, name=name)
    if out:
        refuse_input(out, project.inputs)
    out_dir = Path(out).resolve().parent if out else Path.cwd()
    stack = map_project(project, out_dir, existing_volumes, target)
    text = render(stack, project.files)
    check_imported(text, stack, out_dir)
    return text, stack.skipped, stack.secrets


def check_imported(text: str, stack: MappedStack, out_dir: Path) -> None:
    """The stack written is valid (secret values not required), or the import stops with one error
    naming the Compose line it came from: what the import says is what the stack means.

    It is loaded as `hostform validate` would, from beside where it is written (relative paths,
    env files and config files resolve there); in a folder that cannot be written, it is not checked."""
    import os
    import tempfile

    from hostform.declare.errors import StackError
    from hostform.declare.load import load

    try:
        fd, name = tempfile.mkstemp(prefix=".hostform-import-", suffix=".toml", dir=out_dir)
    except OSError:
        return
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as temp:
            temp.write(text)
        load(name, environ={}, secrets_optional=True)
    except StackError as exc:
        raise _at_compose_line(exc, stack) from None
    finally:
        os.unlink(name)


def _at_compose_line(exc: Any, stack: MappedStack) -> Any:
    """The loader's first problem, located at the Compose line of the longest stack path it falls under."""
    from hostform.declare.errors import Problem, StackError
    from hostform.declare.lines import format_path

    first = exc.problems[0]
    found: tuple[str, ...] = ()
    for path in stack.sources:
        text = format_path(path)
        if (first.key == text or first.key.startswith((text + ".", text + "["))) and len(path) > len(found):
            found = path
    source = stack.sources.get(found)
    compose = ("services" if found[:1] in (("containers",), ("jobs",)) else found[0], *found[1:]) if found else ()
    message = f"the stack it makes is invalid: {first.key}: {first.message}"
    line = source.line if source and source.line else None
    shown = source.file if source and source.file else stack.files_read[0]
    return StackError([Problem(shown, format_path(compose), message, line)])


def refuse_input(out: str, inputs: Sequence[str]) -> None:
    """The stack is never written over a file the import reads (the same file by any name)."""
    import os

    from hostform.declare.errors import Problem, StackError

    for given in inputs:
        try:
            same = os.path.samefile(out, given)
        except OSError:
            same = os.path.realpath(out) == os.path.realpath(given)
        if same:
            raise StackError([Problem(out, "", f"is {Path(given).name}, which the import reads: write elsewhere")])


def render(stack: MappedStack, files: Sequence[str]) -> str:
    import tomlkit

    doc = tomlkit.document()
    doc.add(_comment(f"Imported from {', '.join(Path(f).name for f in files)} by `hostform import compose`."))
    doc.add(_comment("Comments name the Compose line each table and key came from."))
    if stack.secrets:
        doc.add(_comment("Secrets are not written here; set them in the environment (or in .env next to this file):"))
        for secret, how in sorted(stack.secrets.items()):
            doc.add(_comment(f"  {secret}: {how}"))
    if stack.kept_plain:
        doc.add(_comment("Kept as plain values although their names look secret:"))
        for note in stack.kept_plain:
            doc.add(_comment(f"  {note}"))
    if stack.kept_volumes:
        doc.add(_comment("Volumes Compose made, used as they are (external: never recreated nor deleted):"))
        doc.add(_comment(f"  {', '.join(stack.kept_volumes)}"))
    doc.add(tomlkit.nl())
    meta = tomlkit.table()
    meta.add("name", stack.name)
    if stack.target != "host":
        meta.add("target", stack.target)
    if stack.plain_env:
        meta.add("env", sorted(stack.plain_env))
        meta["env"].comment(_line_text("passed through as in Compose: read at plan time (environment or .env)"))
    doc.add("stack", meta)
    used = _used_variables(stack)
    if used:
        variables = tomlkit.table()
        variables.comment(_line_text("values read from the environment (or .env) at import time; override with --var"))
        for key in sorted(used):
            variables.add(key, stack.variables.get(key, ""))
        doc.add("vars", variables)
    for kind in ("networks", "volumes", "files", "secrets", "jobs", "containers"):
        section: dict[str, dict[str, Any]] = _section(stack, kind)
        if not section:
            continue
        outer = tomlkit.table(is_super_table=True)
        for key, spec in section.items():
            outer.add(key, _table(spec, (kind, key), stack.sources))
        doc.add(kind, outer)
    if stack.skipped:
        doc.add(tomlkit.nl())
        doc.add(_comment("Not imported (also printed on stderr when importing):"))
        for skipped in stack.skipped:
            doc.add(_comment(f"  {skipped}"))
    text = tomlkit.dumps(doc)
    return text if text.endswith("\n") else text + "\n"


def _section(stack: MappedStack, kind: str) -> dict[str, dict[str, Any]]:
    """`secrets`: the file secrets as `[secrets.NAME] file = ...` (MappedStack.secrets are the
    ones to set in the environment, which the file does not hold)."""
    if kind == "secrets":
        return {name: {"file": where} for name, where in stack.secret_files.items()}
    section: dict[str, dict[str, Any]] = getattr(stack, kind)
    return section


def _line_text(text: str) -> str:
    """One comment line: a key or file name from the Compose file cannot end it and start TOML."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _comment(text: str) -> Any:
    import tomlkit

    return tomlkit.comment(_line_text(text))


def _used_variables(stack: MappedStack) -> set[str]:
    found: set[str] = set()
    for kind in ("files", "jobs", "containers", "networks", "volumes"):
        for spec in getattr(stack, kind).values():
            for text in _templates(spec):
                found.update(_VAR_REF.findall(text))
    return found


def _templates(value: Any) -> list[str]:
    if isinstance(value, Interpolated):
        return [value.template]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _templates(v)]
    if isinstance(value, list):
        return [t for v in value for t in _templates(v)]
    return []


def _table(spec: dict[str, Any], path: tuple[str, ...], sources: dict[tuple[str, ...], Source]) -> Any:
    import tomlkit

    table = tomlkit.table()
    here = sources.get(path)
    if here is not None and here.line:
        table.comment(_line_text(f"{here.file}:{here.line}"))
    subtables = []
    for key, value in spec.items():
        if key in _SUBTABLES and isinstance(value, dict) and value:
            subtables.append((key, value))
            continue
        item = tomlkit.item(_value(value, key in _INLINE))
        if isinstance(value, list) and len(value) > 1 and len(str(value)) > 60:
            item.multiline(True)
        src = sources.get((*path, key))
        if src is not None and src.line:
            item.comment(_line_text(f"{src.file}:{src.line}"))
        table.add(key, item)
    for key, value in subtables:
        sub = tomlkit.table()
        src = sources.get((*path, key))
        if src is not None and src.line:
            sub.comment(_line_text(f"{src.file}:{src.line}"))
        for k, v in value.items():
            sub.add(k, _value(v, True))
        table.add(key, sub)
    return table


def _value(value: Any, inline: bool) -> Any:
    """Plain TOML values; strings as hostform reads them (a template: literal `{{` escaped)."""
    import tomlkit

    if isinstance(value, Interpolated):
        return value.template
    if isinstance(value, str):
        return jinja_literal(value)
    if isinstance(value, dict):
        table = tomlkit.inline_table()
        for k, v in value.items():
            table.append(str(k), _value(v, True))
        return table
    if isinstance(value, list):
        array = tomlkit.array()
        for v in value:
            array.append(_value(v, True))
        return array
    return value
