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
    out_dir = Path(out).resolve().parent if out else Path.cwd()
    stack = map_project(project, out_dir, existing_volumes, target)
    return render(stack, project.files), stack.skipped, stack.secrets


def render(stack: MappedStack, files: Sequence[str]) -> str:
    import tomlkit

    doc = tomlkit.document()
    doc.add(tomlkit.comment(f"Imported from {', '.join(Path(f).name for f in files)} by `hostform import compose`."))
    doc.add(tomlkit.comment("Comments name the Compose line each table and key came from."))
    if stack.secrets:
        doc.add(tomlkit.comment("Secrets are not written here; set them in the environment when you plan and apply:"))
        for secret, how in sorted(stack.secrets.items()):
            doc.add(tomlkit.comment(f"  {secret}: {how}"))
    if stack.kept_volumes:
        doc.add(tomlkit.comment("Volumes Compose made, used as they are (external: never recreated nor deleted):"))
        doc.add(tomlkit.comment(f"  {', '.join(stack.kept_volumes)}"))
    doc.add(tomlkit.nl())
    meta = tomlkit.table()
    meta.add("name", stack.name)
    if stack.target != "host":
        meta.add("target", stack.target)
    doc.add("stack", meta)
    used = _used_variables(stack)
    if used:
        variables = tomlkit.table()
        variables.comment("values read from the environment (or .env) at import time; override with --var")
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
        doc.add(tomlkit.comment("Not imported (also printed on stderr when importing):"))
        for skipped in stack.skipped:
            doc.add(tomlkit.comment(f"  {skipped}"))
    text = tomlkit.dumps(doc)
    return text if text.endswith("\n") else text + "\n"


def _section(stack: MappedStack, kind: str) -> dict[str, dict[str, Any]]:
    """`secrets`: the file secrets as `[secrets.NAME] file = ...` (MappedStack.secrets are the
    ones to set in the environment, which the file does not hold)."""
    if kind == "secrets":
        return {name: {"file": where} for name, where in stack.secret_files.items()}
    section: dict[str, dict[str, Any]] = getattr(stack, kind)
    return section


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
        table.comment(f"{here.file}:{here.line}")
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
            item.comment(f"{src.file}:{src.line}")
        table.add(key, item)
    for key, value in subtables:
        sub = tomlkit.table()
        src = sources.get((*path, key))
        if src is not None and src.line:
            sub.comment(f"{src.file}:{src.line}")
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
