"""Reading a Compose project: YAML with line numbers, interpolation, -f merging, extends, profiles.

The result is the Compose model after the Compose specification's own processing
(what `docker-compose config` would print), plus where each key came from and
which values came from the environment. Turning it into a stack is plans/'s job.

Strings that came from the environment stay `Interpolated`: a str holding the
value, which also knows its Jinja2 form (`{{ vars.PORT }}`, `{{ secret('DB_PASSWORD') }}`),
so the stack written from it reads the environment again when it is applied.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostform.declare.access import MAX_FILE_BYTES, PathRefused, read_regular
from hostform.declare.compose_shape import check_shape, plain_tree
from hostform.declare.errors import Problem, StackError
from hostform.declare.secrets import is_secret_name

_TOP_LEVEL = ("version", "name", "services", "networks", "volumes", "configs", "secrets")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_JINJA = re.compile(r"\{[{%#]")
# Lists Compose merges by concatenation when files are merged (the others are replaced).
_CONCAT = ("ports", "expose", "external_links", "dns", "dns_search", "tmpfs", "cap_add", "cap_drop", "extra_hosts")


def secret_variable(name: str) -> bool:
    """A variable whose name says secret (PASSWORD, TOKEN, KEY...), unless it names a file holding
    one: `MYSQL_ROOT_PASSWORD_FILE=/run/secrets/db` is a path the image reads the password from."""
    return is_secret_name(name) and not name.upper().endswith("_FILE")


def jinja_literal(text: str) -> str:
    """Literal text in a hostform value, where every string is a template: `{{` stays `{{`."""
    return _JINJA.sub(lambda m: "{{ '" + m.group(0) + "' }}", text)


class Interpolated(str):
    """A value with ${VAR} in it: compares as its value, carries its template form and names."""

    template: str
    names: tuple[str, ...]
    secret: bool

    def __new__(cls, value: str, template: str, names: tuple[str, ...], secret: bool) -> Interpolated:
        self = super().__new__(cls, value)
        self.template = template
        self.names = names
        self.secret = secret
        return self


@dataclass(frozen=True)
class Source:
    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class ComposeProject:
    name: str
    base_dir: Path
    files: tuple[str, ...]
    services: dict[str, dict[str, Any]]
    networks: dict[str, dict[str, Any]]
    volumes: dict[str, dict[str, Any]]
    configs: dict[str, dict[str, Any]]
    secrets: dict[str, dict[str, Any]]
    lines: dict[tuple[str, ...], Source]
    variables: dict[str, str]  # name -> value, for the names that are not secret
    skipped: dict[str, str] = field(default_factory=dict)  # service -> why (profiles)
    unknown_top: tuple[str, ...] = ()  # top-level keys other than Compose's sections and x- fields
    notes: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    inputs: tuple[str, ...] = ()  # every file read: the Compose files, those `extends` names, the .env

    def source(self, path: tuple[str, ...]) -> Source | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None


# ---------------------------------------------------------------- YAML with lines


def _read_yaml(path: Path, shown: str) -> tuple[Any, dict[tuple[str, ...], Source]]:
    import yaml

    from hostform.declare.bounded_yaml import MAX_YAML_BYTES, YamlRefused, load_bounded

    try:
        text = read_regular(path, MAX_YAML_BYTES, shown).decode("utf-8")
    except PathRefused as exc:
        raise StackError([Problem(shown, "", str(exc))]) from None
    except UnicodeDecodeError:
        raise StackError([Problem(shown, "", "not UTF-8 text")]) from None
    try:
        node, data = load_bounded(text)
    except YamlRefused as exc:
        raise StackError([Problem(shown, "", f"refused: {exc}")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise StackError([Problem(shown, "", f"not valid YAML: {getattr(exc, 'problem', exc)}", line)]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise StackError([Problem(shown, "", "a Compose file is a mapping (services:, networks:, ...)", 1)])
    lines: dict[tuple[str, ...], Source] = {}
    _node_lines(node, (), shown, lines, depth=0)
    return data, lines


def _checked(path: Path, shown: str) -> tuple[dict[str, Any], dict[tuple[str, ...], Source]]:
    """A Compose file's data, each value of the shape the importer reads (declare.compose_shape)."""
    data, lines = _read_yaml(path, shown)
    data = plain_tree(data, shown, lines)
    check_shape(data, shown, lines)
    return data, lines


def _node_lines(node: Any, path: tuple[str, ...], shown: str, out: dict[tuple[str, ...], Source], depth: int) -> None:
    import yaml

    if depth > 4 or not isinstance(node, yaml.MappingNode):
        return
    for key, value in node.value:
        if isinstance(key, yaml.ScalarNode):
            here = (*path, str(key.value))
            out.setdefault(here, Source(shown, key.start_mark.line + 1))
            _node_lines(value, here, shown, out, depth + 1)


# ---------------------------------------------------------------- interpolation


@dataclass
class _Interpolator:
    env: Mapping[str, str]
    shown: str
    lines: dict[tuple[str, ...], Source]
    variables: dict[str, str] = field(default_factory=dict)
    notes: list[tuple[tuple[str, ...], str]] = field(default_factory=list)
    _path: tuple[str, ...] = ()

    def tree(self, value: Any, path: tuple[str, ...]) -> Any:
        if isinstance(value, dict):
            return {k: self.tree(v, (*path, str(k))) for k, v in value.items()}
        if isinstance(value, list):
            return [self.tree(v, path) for v in value]
        if isinstance(value, str) and "$" in value:
            self._path = path
            resolved, template, names = self._text(value)
            if not names:
                return resolved
            secret = any(secret_variable(n) for n in names)
            return Interpolated(resolved, template, tuple(dict.fromkeys(names)), secret)
        return value

    def _fail(self, message: str) -> StackError:
        source = self._source()
        return StackError([Problem(self.shown, ".".join(self._path), message, source.line if source else None)])

    def _source(self) -> Source | None:
        path = self._path
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    def _text(self, text: str) -> tuple[str, str, list[str]]:
        """(value, template, names used) of a string with $ in it."""
        out, tmpl, names = [], [], []
        i = 0
        while i < len(text):
            c = text[i]
            nxt = text[i + 1] if i + 1 < len(text) else ""
            if c != "$":
                j = text.find("$", i)
                j = len(text) if j < 0 else j
                out.append(text[i:j])
                tmpl.append(jinja_literal(text[i:j]))
                i = j
            elif nxt == "$":
                out.append("$")
                tmpl.append("$")
                i += 2
            elif nxt == "{":
                end = _closing_brace(text, i + 2)
                if end < 0:
                    raise self._fail(f"invalid interpolation format in {text!r}: no closing '}}'")
                value, form, used = self._braced(text[i + 2 : end], text)
                out.append(value)
                tmpl.append(form)
                names.extend(used)
                i = end + 1
            elif (m := _NAME.match(text, i + 1)) is not None:
                value, form = self._plain(m.group(0))
                out.append(value)
                tmpl.append(form)
                names.append(m.group(0))
                i = m.end()
            else:
                out.append("$")
                tmpl.append("$")
                i += 1
        return "".join(out), "".join(tmpl), names

    def _plain(self, name: str) -> tuple[str, str]:
        value = self.env.get(name)
        if value is None:
            self.notes.append((self._path, f"${{{name}}} is not set: Compose uses an empty string"))
            value = ""
        return value, self._reference(name, value)

    def _reference(self, name: str, value: str) -> str:
        if secret_variable(name):
            return "{{ secret('" + name + "') }}"
        if self.variables.setdefault(name, value) != value:
            self.notes.append(
                (self._path, f"${{{name}}} has another default here ({value!r}); [vars] keeps its first value")
            )
        return "{{ vars." + name + " }}"

    def _braced(self, inner: str, whole: str) -> tuple[str, str, list[str]]:
        m = _NAME.match(inner)
        if m is None:
            raise self._fail(f"invalid interpolation format in {whole!r}: ${{{inner}}}")
        name, rest = m.group(0), inner[m.end() :]
        if not rest:
            value, form = self._plain(name)
            return value, form, [name]
        op = rest[:2] if rest[:2] in (":-", ":?", ":+") else rest[:1]
        if op not in (":-", ":?", ":+", "-", "?", "+"):
            raise self._fail(f"invalid interpolation format in {whole!r}: ${{{inner}}}")
        operand, operand_form, operand_names = self._text(rest[len(op) :])
        current = self.env.get(name)
        is_set = current is not None and (current != "" or ":" not in op)
        if op.endswith("?"):
            if not is_set:
                raise self._fail(f"required variable {name} is missing a value: {operand or name}")
            assert current is not None
            return current, self._reference(name, current), [name]
        if op.endswith("-"):
            value = current if is_set and current is not None else operand
            return value, self._reference(name, value), [name, *operand_names]
        value = operand if is_set else ""  # ${VAR:+replacement}
        self.notes.append((self._path, f"${{{name}{op}...}} is fixed at import time: {'set' if is_set else 'unset'}"))
        return value, jinja_literal(value) if not operand_names else operand_form, operand_names


def _closing_brace(text: str, start: int) -> int:
    depth = 1
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def read_env_file(path: Path) -> dict[str, str]:
    """A .env file: KEY=VALUE lines, # comments, optional quotes."""
    from hostform.declare.load import parse_env_file

    if not path.is_file():
        return {}
    try:
        return parse_env_file(read_regular(path, MAX_FILE_BYTES, path.name).decode("utf-8"))
    except (PathRefused, UnicodeDecodeError) as exc:
        raise StackError([Problem(path.name, "", f"cannot read: {exc}")]) from None


# ---------------------------------------------------------------- paths, normal forms, merging


def _absolute_paths(service: dict[str, Any], base: Path) -> None:
    """Relative host paths are relative to the file that names them: made absolute at once."""

    def rel(p: str) -> str:
        if p.startswith("~"):
            return str(Path(p).expanduser())
        return p if p.startswith("/") else str((base / p).resolve())

    if isinstance(service.get("env_file"), str):
        service["env_file"] = [service["env_file"]]
    if isinstance(service.get("env_file"), list):
        service["env_file"] = [rel(p) if isinstance(p, str) else p for p in service["env_file"]]
    build = service.get("build")
    if isinstance(build, str):
        service["build"] = {"context": rel(build)}
    elif isinstance(build, dict) and isinstance(build.get("context"), str):
        build["context"] = rel(build["context"])
    volumes = []
    for v in service.get("volumes") or []:
        if isinstance(v, str):
            parts = v.split(":")
            if len(parts) >= 2 and (parts[0].startswith((".", "/", "~"))):
                v = ":".join([rel(parts[0]), *parts[1:]])
        elif isinstance(v, dict) and v.get("type") == "bind" and isinstance(v.get("source"), str):
            v = {**v, "source": rel(v["source"])}
        volumes.append(v)
    if "volumes" in service:
        service["volumes"] = volumes


def _top_level_paths(section: dict[str, Any], base: Path) -> None:
    for spec in section.values():
        if isinstance(spec, dict) and isinstance(spec.get("file"), str) and not spec["file"].startswith("/"):
            spec["file"] = str((base / spec["file"]).resolve())


def _kv_map(value: Any) -> Any:
    """environment / labels as a mapping; `KEY` alone (from the environment) maps to None."""
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            key, sep, val = str(item).partition("=")
            if isinstance(item, Interpolated) and item.names:
                val = Interpolated(val, item.template.partition("=")[2], item.names, item.secret)
            out[key] = val if sep else None
        return out
    return value


def _normal(service: dict[str, Any]) -> dict[str, Any]:
    for key in ("environment", "labels"):
        if key in service:
            service[key] = _kv_map(service[key]) or {}
    deps = service.get("depends_on")
    if isinstance(deps, list):
        service["depends_on"] = {d: {"condition": "service_started"} for d in deps}
    nets = service.get("networks")
    if isinstance(nets, list):
        service["networks"] = {n: None for n in nets}
    return service


def _volume_target(v: Any) -> Any:
    if isinstance(v, dict):
        return v.get("target")
    parts = str(v).split(":")
    return parts[1] if len(parts) >= 2 else parts[0]


def merge_service(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Compose's merge of one service over another (later -f files, extends)."""
    out = dict(base)
    for key, value in over.items():
        old = out.get(key)
        if key in _CONCAT and isinstance(old, list) and isinstance(value, list):
            out[key] = old + [v for v in value if v not in old]
        elif key == "volumes" and isinstance(old, list) and isinstance(value, list):
            targets = {_volume_target(v) for v in value}
            out[key] = [v for v in old if _volume_target(v) not in targets] + value
        elif isinstance(old, dict) and isinstance(value, dict) and key not in ("command", "entrypoint"):
            merged = dict(old)
            for k, v in value.items():
                merged[k] = merge_service(old[k], v) if isinstance(old.get(k), dict) and isinstance(v, dict) else v
            out[key] = merged
        else:
            out[key] = value
    return out


# ---------------------------------------------------------------- loading


def project_name(given: str | None, top: Mapping[str, Any], env: Mapping[str, str], first: Path) -> str:
    name = given or top.get("name") or env.get("COMPOSE_PROJECT_NAME") or first.resolve().parent.name
    return re.sub(r"[^-_a-z0-9]", "", str(name).lower()) or "default"


def load_compose(
    files: Sequence[str | Path],
    environ: Mapping[str, str] | None = None,
    profiles: Sequence[str] = (),
    name: str | None = None,
) -> ComposeProject:
    """Read, interpolate and merge Compose files in order (the first one's folder is the project's)."""
    paths = [Path(f) for f in files]
    base_dir = paths[0].resolve().parent
    shell = dict(os.environ if environ is None else environ)
    env = {**read_env_file(base_dir / ".env"), **shell}
    merged: dict[str, Any] = {}
    lines: dict[tuple[str, ...], Source] = {}
    interp = _Interpolator(env, str(paths[0]), lines)
    docs: dict[str, tuple[dict[str, Any], dict[tuple[str, ...], Source]]] = {}
    for path in paths:
        shown = _shown(path, base_dir)
        data, file_lines = _checked(path, shown)
        interp.shown, interp.lines = shown, file_lines
        data = interp.tree(data, ())
        docs[str(path.resolve())] = (data, file_lines)
        _merge_file(merged, data, base_dir)
        for key, source in file_lines.items():  # a table stays where it began; a key where it was last set
            if len(key) > 2:
                lines[key] = source
            else:
                lines.setdefault(key, source)
    services: dict[str, dict[str, Any]] = {k: _normal(dict(v or {})) for k, v in (merged.get("services") or {}).items()}
    _check_services(services, str(paths[0]), lines)
    for svc in list(services):
        services[svc] = _extends(svc, services, base_dir, str(paths[0]), interp, lines, docs, ())
    active = set(profiles) | {p for p in env.get("COMPOSE_PROFILES", "").split(",") if p}
    skipped = {
        s: f"profiles {', '.join(map(str, spec['profiles']))} not active (import --profile NAME)"
        for s, spec in services.items()
        if spec.get("profiles") and not active & set(map(str, spec["profiles"]))
    }
    return ComposeProject(
        name=project_name(name, merged, env, paths[0]),
        base_dir=base_dir,
        files=tuple(str(p) for p in paths),
        services={s: spec for s, spec in services.items() if s not in skipped},
        networks={k: dict(v or {}) for k, v in (merged.get("networks") or {}).items()},
        volumes={k: dict(v or {}) for k, v in (merged.get("volumes") or {}).items()},
        configs={k: dict(v or {}) for k, v in (merged.get("configs") or {}).items()},
        secrets={k: dict(v or {}) for k, v in (merged.get("secrets") or {}).items()},
        lines=lines,
        variables=dict(sorted(interp.variables.items())),
        skipped=skipped,
        notes=interp.notes,
        unknown_top=tuple(k for k in merged if k not in _TOP_LEVEL and not str(k).startswith("x-")),
        inputs=(*docs, *([str(base_dir / ".env")] if (base_dir / ".env").is_file() else [])),
    )


def _shown(path: Path, base_dir: Path) -> str:
    """A file named relative to the project's folder, so the output does not depend on the working folder."""
    try:
        return str(path.resolve().relative_to(base_dir))
    except ValueError:
        return str(path)


def _merge_file(merged: dict[str, Any], data: dict[str, Any], base: Path) -> None:
    for key, value in data.items():
        if key == "services" and isinstance(value, dict):
            services = merged.setdefault("services", {})
            for svc, spec in value.items():
                spec = _normal(dict(spec or {}))
                _absolute_paths(spec, base)
                services[svc] = merge_service(services.get(svc, {}), spec)
        elif key in ("networks", "volumes", "configs", "secrets") and isinstance(value, dict):
            section = merged.setdefault(key, {})
            for k, v in value.items():
                section[k] = {**(section.get(k) or {}), **(v or {})}
            if key in ("configs", "secrets"):
                _top_level_paths(section, base)
        else:
            merged[key] = value


def _check_services(services: dict[str, Any], shown: str, lines: dict[tuple[str, ...], Source]) -> None:
    problems = [
        Problem(shown, f"services.{name}", "a service is a mapping of keys", _line(lines, ("services", name)))
        for name, spec in services.items()
        if not isinstance(spec, dict)
    ]
    if problems:
        raise StackError(problems)


def _line(lines: dict[tuple[str, ...], Source], path: tuple[str, ...]) -> int | None:
    source = lines.get(path)
    return source.line if source else None


def _extends(
    svc: str,
    services: dict[str, dict[str, Any]],
    base_dir: Path,
    shown: str,
    interp: _Interpolator,
    lines: dict[tuple[str, ...], Source],
    docs: dict[str, tuple[dict[str, Any], dict[tuple[str, ...], Source]]],
    seen: tuple[str, ...],
) -> dict[str, Any]:
    spec = services[svc]
    ext = spec.get("extends")
    if ext is None:
        return spec
    if isinstance(ext, str):
        ext = {"service": ext}
    where = f"services.{svc}.extends"
    line = _line(lines, ("services", svc, "extends"))
    if not isinstance(ext, dict) or not isinstance(ext.get("service"), str):
        raise StackError([Problem(shown, where, "extends needs 'service' (and optionally 'file')", line)])
    key = f"{ext.get('file', '')}:{ext['service']}"
    if key in seen:
        raise StackError([Problem(shown, where, f"extends loops: {' -> '.join((*seen, key))}", line)])
    if "file" in ext:
        other = (base_dir / str(ext["file"])).resolve()
        if str(other) not in docs:
            data, file_lines = _checked(other, _shown(other, base_dir))
            interp.shown, interp.lines = _shown(other, base_dir), file_lines
            docs[str(other)] = (interp.tree(data, ()), file_lines)
        data, file_lines = docs[str(other)]
        pool = {k: _normal(dict(v or {})) for k, v in (data.get("services") or {}).items()}
        for v in pool.values():
            _absolute_paths(v, other.parent)
        for path, source in file_lines.items():
            if path[:2] == ("services", ext["service"]) and len(path) > 2:
                lines.setdefault(("services", svc, *path[2:]), source)
    else:
        pool = services
    if ext["service"] not in pool:
        raise StackError([Problem(shown, where, f"extends names service {ext['service']!r}, which is not there", line)])
    parent = _extends(ext["service"], pool, base_dir, shown, interp, lines, docs, (*seen, key))
    parent = {k: v for k, v in parent.items() if k not in ("depends_on", "links", "volumes_from")}
    out = merge_service(parent, {k: v for k, v in spec.items() if k != "extends"})
    if "file" not in ext:
        for path, source in list(lines.items()):
            if path[:2] == ("services", ext["service"]) and len(path) > 2:
                lines.setdefault(("services", svc, *path[2:]), source)
    return out


def walk_strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from walk_strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk_strings(v)
