"""Loading a stack: TOML -> variables -> rendered values -> validated Stack -> resolved files."""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
import typing
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hostform.declare.access import Access, PathRefused, kind_of, read_stack_bytes, shown_path
from hostform.declare.bounds import RESOURCES, LimitHit, located
from hostform.declare.builds import BuildRef, repository_for
from hostform.declare.check import check_references
from hostform.declare.errors import Problem, StackError
from hostform.declare.lines import LineIndex, format_path
from hostform.declare.secret_sources import SecretSources, declared_in
from hostform.declare.secrets import UNKNOWN, FileBytes, Secret, UnknownSecret, reveal
from hostform.declare.spec import FileMount, JobSpec, Stack, plain_of
from hostform.declare.stack_cache import validated
from hostform.declare.template import Renderer, RenderError

if TYPE_CHECKING:
    from pydantic import ValidationError

STACK_FILE = "hostform.toml"
TRUSTED = Access()  # the defaults: files under the stack's folder, no size or time limits
# Where a secret() may end up: anywhere else it could leak into a label or a plan.
_SECRET_PLACES = (
    ("containers", "*", "env", "*"),
    ("jobs", "*", "env", "*"),
    ("files", "*", "content"),
)


@dataclass(frozen=True)
class ResolvedFile:
    """A config file's final content and its hash (the hash is what specs and plans carry).

    content is text (inline content or a rendered template, written as UTF-8), a Secret, or
    for `source` files the file's exact bytes (FileBytes: binary files and CRLF stay as they are).
    """

    name: str
    content: str | FileBytes | Secret
    sha256: str
    reload_signal: str | None = None

    @property
    def is_secret(self) -> bool:
        return isinstance(self.content, Secret)

    @property
    def data(self) -> bytes:
        """The exact bytes that go into the container (the secret revealed)."""
        return reveal(self.content).encode()


@dataclass(frozen=True)
class LoadedStack:
    stack: Stack
    path: Path
    files: dict[str, ResolvedFile] = field(default_factory=dict)
    # images built from a folder, by container or job name; filled by runtime.build_context,
    # which also gives those services' `image` its content tag
    builds: dict[str, BuildRef] = field(default_factory=dict)
    # under --untrusted: the folders whose paths a plan may look at (a bind-mount source elsewhere
    # is not even looked for, so a stranger's stack cannot probe which host paths exist)
    probe_roots: tuple[str, ...] | None = None
    # the secrets that stood for an unknown value (drift without them; validate reads none)
    unset_secrets: tuple[str, ...] = ()

    def may_probe(self, path: str) -> bool:
        return self.probe_roots is None or any(
            path == root or path.startswith(root.rstrip("/") + "/") for root in self.probe_roots
        )

    @property
    def name(self) -> str:
        return self.stack.name

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def shown_path(self, path: str) -> str:
        """A host path as a plan shows it: relative (`./data`) under the stack's folder, so a plan
        posted as a comment does not tell where the runner keeps the stack; others as they are."""
        for base in {str(self.base_dir.absolute()), os.path.realpath(self.base_dir)}:
            base = base.rstrip("/")
            if path == base:
                return "."
            if path.startswith(base + "/"):
                return "./" + path[len(base) + 1 :]
        return path


def find_stack_file(path: str | Path) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / STACK_FILE
    if not p.is_file():
        message = "no such stack file (give a .toml file or a folder holding hostform.toml)"
        raise StackError([Problem(str(path), "", message)])
    return p


def load(
    path: str | Path,
    var_files: Sequence[str | Path] = (),
    var_overrides: Sequence[str] = (),
    environ: Mapping[str, str] | None = None,
    access: Access = TRUSTED,
    target: str | None = None,
    secrets_optional: bool = False,
    cache: bool = False,
    read_secrets: bool = True,
) -> LoadedStack:
    """Load and check a stack completely; raise StackError with every problem found.

    cache: use the cache of validated stacks (declare.stack_cache; never under --untrusted).
    secrets_optional: a secret with no value stands for the one last applied (drift).
    read_secrets: False reads no secret's value (validate): every reference stands for an unknown one.

    Every file the stack reads goes through `access` (inside the stack's folder, regular files).
    `target` ("host" or "swarm", the CLI's --on) overrides the file's [stack] target."""
    file = find_stack_file(path)
    shown = str(path if Path(path).is_file() else file)
    text = _read(file, shown, access)
    raw = _parse_toml(text, shown)
    _check_count(raw, access)
    lines = LineIndex(text)
    problems: list[Problem] = []
    unrendered: set[str] = set()  # keys whose template failed: later complaints are noise

    def problem(loc: tuple[str | int, ...], message: str) -> None:
        key = format_path(loc)
        if key not in unrendered and not any(u.startswith(f"{key}[") for u in unrendered):
            problems.append(Problem(shown, key, message, lines.line_of(loc)))

    env = dict(os.environ if environ is None else environ)
    env.update(_dot_env(file.parent, env, problem, access))
    variables, var_problems = _variables(raw.get("vars", {}), var_files, var_overrides, shown, lines, file, access)
    problems.extend(var_problems)
    plain_env = _plain_env(raw, access, problem)
    secrets_file, declared = declared_in(raw)
    sources = SecretSources(env, file.parent, access, secrets_file, declared, read_values=read_secrets)
    renderer = (Renderer.untrusted if access.untrusted else Renderer)(variables, env, plain_env, sources=sources)
    renderer.secrets_optional = secrets_optional  # drift: an unset secret stands for what was applied
    rendered = _render_tree(raw, (), renderer, problem)
    unrendered.update(p.key for p in problems)
    _merge_env_files(rendered, file.parent, problem, access)
    use_cache = cache and not access.untrusted and not problems
    try:
        stack = validated(rendered, str(file.parent), lambda: _validate(rendered, str(file.parent)), use_cache)
    except _Invalid as exc:
        for loc, message in exc.problems:
            problem(loc, message)
        raise StackError(problems) from None
    stack = _resolve_default_conditions(stack)
    if target is not None:
        stack = stack.model_copy(update={"stack": stack.stack.model_copy(update={"target": target})})
    stack = _resolve_builds(stack, file.parent, problem, access)
    for loc, message in check_references(stack):
        problem(loc, message)
    sources.check(problem)
    files = _resolve_files(stack, file.parent, renderer, problem, access)
    stack = _secret_files(stack, files, renderer, problem)
    _route_files(stack, file.parent, files, renderer, problem, access)
    if problems:
        raise StackError(problems)
    roots = tuple(str(r) for r in access.roots(file.parent)) if access.untrusted else None
    unset = tuple(sorted(sources.unset))
    return LoadedStack(stack=stack, path=file, files=files, probe_roots=roots, unset_secrets=unset)


RESOURCE_KINDS = ("containers", "jobs", "files", "volumes", "networks", "secrets", "links")


def _check_count(raw: dict[str, Any], access: Access) -> None:
    """Under --untrusted, a stack declares at most access.max_resources resources: checked on the
    parsed TOML, before anything is rendered or read."""
    if access.max_resources is None:
        return
    count = sum(len(raw[k]) for k in RESOURCE_KINDS if isinstance(raw.get(k), dict))
    if count > access.max_resources:
        raise LimitHit(RESOURCES, "loading the stack", f"it declares {count}")


class _Invalid(Exception):
    def __init__(self, problems: list[tuple[tuple[str | int, ...], str]]) -> None:
        self.problems = problems


def _validate(rendered: dict[str, Any], base_dir: str) -> Stack:
    """The pydantic models validate (only here, on a miss of the cache of validated stacks);
    the rest of hostform works on the result as declare.spec's plain objects."""
    from pydantic import ValidationError

    from hostform.declare import schema

    try:
        validated_stack = schema.Stack.model_validate(rendered, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise _Invalid(translate_validation(exc, rendered)) from None
    stack: Stack = plain_of(validated_stack)
    return stack


def load_name_only(path: str | Path, target: str | None = None) -> LoadedStack:
    """Just the stack's name, for destroy when the whole file does not load (a secret not set
    here, a broken reference): every object carrying that name's label is what it removes."""
    from pydantic import ValidationError

    from hostform.declare.schema import StackMeta

    file = find_stack_file(path)
    shown = str(path if Path(path).is_file() else file)
    raw = _parse_toml(_read(file, shown, Access()), shown)
    meta = raw.get("stack")
    try:
        found = plain_of(StackMeta.model_validate(meta))
    except ValidationError:
        raise StackError([Problem(shown, "stack.name", "cannot read the stack's name")]) from None
    if target is not None:
        found = found.model_copy(update={"target": target})
    return LoadedStack(stack=Stack(stack=found), path=file)


STACK_NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]*")


def load_name_or_file(given: str, target: str | None = None) -> LoadedStack:
    """A stack file or folder, or a bare stack name (no such path here): for the commands that
    need the name alone (history, unlock), on an operations box without the checkout."""
    if Path(given).exists() or not STACK_NAME_RE.fullmatch(given):
        return load_name_only(given, target)
    from hostform.declare.schema import StackMeta

    meta = plain_of(StackMeta.model_validate({"name": given, "target": target or "host"}))
    return LoadedStack(stack=Stack(stack=meta), path=Path.cwd() / given / "hostform.toml")


def _read(file: Path, shown: str, access: Access) -> str:
    try:
        return read_stack_bytes(file, access).decode("utf-8")
    except PathRefused as exc:
        raise StackError([Problem(shown, "", f"cannot read the stack file: {exc}")]) from None
    except UnicodeDecodeError:
        raise StackError([Problem(shown, "", "cannot read: not UTF-8 text")]) from None


ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _plain_env(raw: dict[str, Any], access: Access, problem: Any) -> frozenset[str]:
    """`[stack] env`: the environment variables templates may read with env(), shown as plain values.
    Under --untrusted the operator must allow each one too (--allow-env): the stack file alone
    cannot make hostform print a variable of the runner's environment."""
    meta = raw.get("stack")
    declared = meta.get("env", []) if isinstance(meta, dict) else []
    if not isinstance(declared, list):
        problem(("stack", "env"), "must be a list of environment variable names")
        return frozenset()
    names = set()
    for i, name in enumerate(declared):
        if not isinstance(name, str) or not ENV_NAME_RE.fullmatch(name):
            problem(("stack", "env", i), f"{_short(name)} is not an environment variable name")
        elif access.untrusted and name not in access.allow_env:
            problem(
                ("stack", "env", i),
                f"{name!r}: under --untrusted a stack reads only the variables the operator allows "
                f"(--allow-env {name}, or HOSTFORM_ALLOW_ENV)",
            )
        else:
            names.add(name)
    return frozenset(names)


def _parse_toml(text: str, shown: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        match = re.search(r"\(at line (\d+), column (\d+)\)", msg)
        line = int(match.group(1)) if match else None
        msg = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg)
        if match and msg.startswith("Cannot overwrite a value"):
            msg += _key_at(text, int(match.group(1)), int(match.group(2)))
        raise StackError([Problem(shown, "", f"invalid TOML: {msg}", line)]) from None


def _key_at(text: str, line: int, column: int) -> str:
    """tomllib does not name the key it refuses to set twice: read it from the line, up to '='."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return ""
    here = lines[line - 1]
    start = max(0, column - 1)
    key = here[start:].partition("=")[0].strip() or here.partition("=")[0].strip()
    if not key or len(key) > 100:
        return ""
    return f" (key {key} is set twice)" if "=" in here else ""


def _variables(
    base: Any,
    var_files: Sequence[str | Path],
    overrides: Sequence[str],
    shown: str,
    lines: LineIndex,
    stack_file: Path,
    access: Access,
) -> tuple[dict[str, Any], list[Problem]]:
    """The stack's [vars], then each --var-file, then each --var; and a problem for every
    variable that holds a template (variables are not rendered: it would pass through as text)."""
    if not isinstance(base, dict):
        raise StackError([Problem(shown, "vars", "must be a table")])
    variables = dict(base)
    problems = [
        Problem(shown, format_path(loc), msg, lines.line_of(loc)) for loc, msg in _templates_in(base, ("vars",))
    ]
    for vf in var_files:
        try:  # relative to where hostform runs, as the operator typed it; then confined like the rest
            text = access.read_text(stack_file.parent, Path(vf).absolute())
            values = tomllib.loads(text)
        except PathRefused as exc:
            raise StackError([Problem(str(vf), "--var-file", f"cannot read var file: {exc}")]) from None
        except ValueError as exc:  # TOMLDecodeError is a ValueError
            raise StackError([Problem(str(vf), "", f"cannot read var file: {exc}")]) from None
        vf_lines = LineIndex(text)
        problems += [
            Problem(str(vf), format_path(loc), msg, vf_lines.line_of(loc)) for loc, msg in _templates_in(values, ())
        ]
        variables.update(values)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise StackError([Problem("--var", "", f"{item!r} is not key=value")])
        problems += [Problem("--var", format_path(loc), msg) for loc, msg in _templates_in(value, (key.strip(),))]
        variables[key.strip()] = value
    return variables, problems


_TEMPLATE_MARKS = ("{{", "{%", "{#")


def _templates_in(value: Any, loc: tuple[str | int, ...]) -> Iterator[tuple[tuple[str | int, ...], str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _templates_in(v, (*loc, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _templates_in(v, (*loc, i))
    elif isinstance(value, str) and any(mark in value for mark in _TEMPLATE_MARKS):
        yield (
            loc,
            (
                "variables are plain values, not templates (this one would reach its uses as literal "
                "template text): write the template directly where the value is used, "
                "e.g. env = { TOKEN = \"{{ secret('TOKEN') }}\" }"
            ),
        )


_PLAIN_TABLES = ("vars", "secrets")  # never rendered: variables, and where secrets come from
_PLAIN_STACK_KEYS = (("stack", "env"), ("stack", "secrets_file"))


def _render_tree(value: Any, loc: tuple[str | int, ...], renderer: Renderer, problem: Any) -> Any:
    if isinstance(value, dict):
        return {k: _render_tree(v, (*loc, k), renderer, problem) for k, v in value.items()}
    if isinstance(value, list):
        return [_render_tree(v, (*loc, i), renderer, problem) for i, v in enumerate(value)]
    if not isinstance(value, str) or (loc and loc[0] in _PLAIN_TABLES) or loc[:2] in _PLAIN_STACK_KEYS:
        return value
    try:
        with located(f"rendering {format_path(loc)}"):
            out = renderer.render(value)
    except RenderError as exc:
        problem(loc, str(exc))
        return value
    if isinstance(out, Secret) and _is_build_arg(loc):
        problem(
            loc,
            "secret() cannot be a build arg: build args stay in the image's history (`docker history` shows "
            "them to anyone who has the image); give the secret at run time through env or a file instead",
        )
        return ""
    if isinstance(out, Secret) and not _secret_allowed(loc):
        problem(
            loc,
            "secret() may only be used in env values and file content (it would leak into labels or plans)",
        )
        return ""
    if isinstance(out, Secret) and isinstance(loc[-1], int) and not _plain_env_key(value, out, renderer):
        problem(loc, "secret() may only be used after the '=' of an env entry (the name is not secret)")
        return ""
    return out


def _plain_env_key(raw: str, out: Secret, renderer: Renderer) -> bool:
    """In `env = ["KEY=..."]` the KEY part must render without a secret: it shows in plans."""
    raw_key, sep, _ = raw.partition("=")
    try:
        key = renderer.render(raw_key)
    except RenderError:
        return False
    return bool(sep) and isinstance(key, str) and out.reveal().startswith(f"{key}=")


def _is_build_arg(loc: tuple[str | int, ...]) -> bool:
    return len(loc) == 5 and loc[0] in ("containers", "jobs") and loc[2:4] == ("build", "args")


def _secret_allowed(loc: tuple[str | int, ...]) -> bool:
    return any(
        len(loc) == len(place) and all(p == "*" or p == part for p, part in zip(place, loc, strict=True))
        for place in _SECRET_PLACES
    )


def _merge_env_files(raw: dict[str, Any], base: Path, problem: Any, access: Access) -> None:
    """env_file entries are read now; `env` wins over them, as in Compose."""
    for kind in ("containers", "jobs"):
        specs = raw.get(kind)
        for name, spec in (specs if isinstance(specs, dict) else {}).items():
            if not isinstance(spec, dict) or not spec.get("env_file"):
                continue
            files = spec["env_file"] if isinstance(spec["env_file"], list) else [spec["env_file"]]
            merged: dict[str, Any] = {}
            for i, ef in enumerate(files):
                if not isinstance(ef, str):
                    continue  # the schema reports the wrong type
                try:
                    with located(f"reading {kind}.{name}.env_file[{i}]"):
                        merged.update(parse_env_file(access.read_text(base, ef)))
                except PathRefused as exc:
                    problem((kind, name, "env_file", i), f"cannot read env file: {exc}")
            env = spec.get("env") or {}
            if isinstance(env, dict):
                spec["env"] = {**merged, **env}
            elif isinstance(env, list):  # KEY=VALUE entries: later ones win
                spec["env"] = [f"{k}={v}" for k, v in merged.items()] + env


DOT_ENV = ".env"


def _dot_env(base: Path, env: Mapping[str, str], problem: Any, access: Access) -> dict[str, str]:
    """The `.env` next to the stack file, read as Compose reads it: values for the variables the
    stack reads (`env('X')` of a name in [stack] env, `secret('X')`), where the environment does
    not set them (it wins, as with Compose). A `X_FILE` there is ignored: a file the stack names
    is read only inside its folder, and `X_FILE` would point anywhere."""
    if kind_of(base / DOT_ENV) is None:
        return {}
    try:
        found = parse_env_file(access.read_text(base, DOT_ENV))
    except PathRefused as exc:
        problem((), f"cannot read {DOT_ENV} next to the stack file: {exc}")
        return {}
    return {k: v for k, v in found.items() if not k.endswith("_FILE") and k not in env and f"{k}_FILE" not in env}


def parse_env_file(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key.strip()] = value
    return out


def _resolve_default_conditions(stack: Stack) -> Stack:
    """A bare `depends_on = ["x"]` waits for a job to complete and a container to start."""

    def condition(dep: str, given: str) -> str:
        if given != "default":
            return given
        return "completed" if dep in stack.jobs else "started"

    def resolve(specs: dict[str, Any]) -> dict[str, Any]:
        return {
            name: spec.model_copy(update={"depends_on": {d: condition(d, c) for d, c in spec.depends_on.items()}})
            for name, spec in specs.items()
        }

    containers, jobs = resolve(stack.containers), resolve(stack.jobs)
    return stack.model_copy(update={"containers": containers, "jobs": jobs})


def _resolve_builds(stack: Stack, base: Path, problem: Any, access: Access) -> Stack:
    """`build` contexts as absolute folders inside the stack's folder (or one the operator allowed,
    as every file a stack names), each with its Dockerfile; `image` as the repository the built
    image is tagged in (the tag comes later, from the content)."""

    def resolve(kind: str, specs: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, spec in specs.items():
            if spec.build is None:
                out[name] = spec
                continue
            loc = (kind, name, "build", "context")
            try:
                context = access.confine(base, spec.build.context)
            except PathRefused as exc:
                problem(loc, str(exc))
                out[name] = spec
                continue
            try:
                dockerfile = access.confine(base, os.path.join(spec.build.context, spec.build.dockerfile))
            except PathRefused as exc:
                problem((kind, name, "build", "dockerfile"), str(exc))
                dockerfile = None
            if kind_of(context) != "folder":
                problem(loc, f"build context {shown_path(spec.build.context)} is not a folder")
            elif dockerfile is not None and kind_of(dockerfile) != "file":
                problem((kind, name, "build", "dockerfile"), f"no Dockerfile at {shown_path(str(dockerfile))}")
            build = spec.build.model_copy(update={"context": str(context)})
            image = repository_for(stack.name, name, spec.image, stack.stack.registry)
            out[name] = spec.model_copy(update={"build": build, "image": image})
        return out

    return stack.model_copy(
        update={"containers": resolve("containers", stack.containers), "jobs": resolve("jobs", stack.jobs)}
    )


def _resolve_files(
    stack: Stack, base: Path, renderer: Renderer, problem: Any, access: Access
) -> dict[str, ResolvedFile]:
    out = {}
    for name, spec in stack.files.items():
        content: str | FileBytes | Secret
        key = "source" if spec.source is not None else "template"
        try:
            with located(f"reading files.{name}.{key}"):
                if spec.content is not None:
                    content = spec.content
                elif spec.source is not None:
                    content = FileBytes(access.read_bytes(base, spec.source))  # byte for byte, not decoded
                else:
                    assert spec.template is not None
                    source = access.read_text(base, spec.template)
                    content = renderer.render_file_template(source, name)
        except PathRefused as exc:
            problem(("files", name, key), f"cannot read: {exc}")
            continue
        except RenderError as exc:
            problem(("files", name, "template"), f"{spec.template}: {exc}")
            continue
        out[name] = ResolvedFile(name, content, _content_sha256(content), spec.reload_signal)
    return out


SECRET_FILE_PREFIX = "secret."  # a [files] key named so is refused, below


def secret_file_name(source: str) -> str:
    return f"{SECRET_FILE_PREFIX}{source}"


def _secret_files(stack: Stack, files: dict[str, ResolvedFile], renderer: Renderer, problem: Any) -> Stack:
    """Each `secrets = [...]` entry becomes a file holding the secret, copied in like [files] are
    (a Swarm secret on Swarm), so that every path for files (plan digests, copy, rotation, drift)
    serves secrets too. The value is read once per name, as secret('NAME') reads it."""

    def resolve(kind: str, specs: dict[str, Any]) -> dict[str, Any]:
        out = dict(specs)
        for name, spec in specs.items():
            for i, sm in enumerate(spec.secrets):
                file_name = secret_file_name(sm.source)
                if file_name in stack.files:
                    problem(
                        ("files", file_name),
                        f"a [files] key starting with {SECRET_FILE_PREFIX!r} is kept for `secrets` entries: rename it",
                    )
                elif file_name not in files:
                    try:
                        content = renderer.secret(sm.source)
                    except RenderError as exc:
                        problem((kind, name, "secrets", i, "source"), str(exc))
                        continue
                    files[file_name] = ResolvedFile(file_name, content, _content_sha256(content))
            if spec.secrets:
                mounts = [
                    FileMount(source=secret_file_name(s.source), target=s.target, mode=s.mode) for s in spec.secrets
                ]
                merged = tuple(sorted((*spec.files, *mounts), key=lambda f: f.target))
                out[name] = spec.model_copy(update={"files": merged})
        return out

    return stack.model_copy(
        update={"containers": resolve("containers", stack.containers), "jobs": resolve("jobs", stack.jobs)}
    )


def route_file_name(container: str, part: str) -> str:
    """The loaded file holding a route's certificate or key ("cert" or "key")."""
    return f"route.{container}.{part}"


def _route_files(
    stack: Stack, base: Path, files: dict[str, ResolvedFile], renderer: Renderer, problem: Any, access: Access
) -> None:
    """Each TLS route's certificate and key, read now from the stack's folder or as secrets, as
    loaded files (so plans carry their keyed digests only, never the content)."""
    for name, spec in stack.containers.items():
        tls = spec.route.tls if spec.route is not None else None
        for part in ("cert", "key") if tls is not None else ():
            path, secret = getattr(tls, part), getattr(tls, f"{part}_secret")
            content: str | FileBytes | Secret
            try:
                content = FileBytes(access.read_bytes(base, path)) if path else renderer.secret(secret)
            except PathRefused as exc:
                problem(("containers", name, "route", "tls", part), f"cannot read: {exc}")
                continue
            except RenderError as exc:
                problem(("containers", name, "route", "tls", f"{part}_secret"), str(exc))
                continue
            file_name = route_file_name(name, part)
            files[file_name] = ResolvedFile(file_name, content, _content_sha256(content))


def _content_sha256(content: str | FileBytes | Secret) -> str:
    """Over the exact bytes written (an unknown secret has no digest)."""
    return UNKNOWN if isinstance(content, UnknownSecret) else hashlib.sha256(reveal(content).encode()).hexdigest()


# ---------------------------------------------------------------- pydantic errors -> problems


def translate_validation(exc: ValidationError, data: Any = None) -> list[tuple[tuple[str | int, ...], str]]:
    """pydantic's errors as (key path, message); `data`, the input, tells keys from type tags."""
    from hostform.declare.schema import suggest

    out = []
    errors = exc.errors(include_url=False)
    for err in errors:
        loc = _clean_loc(err["loc"], data)
        kind = err["type"]
        if _is_secret_branch(err) and sum(_clean_loc(e["loc"], data) == loc for e in errors) > 1:
            continue  # `str | Secret`: the str branch's error says what is wrong
        if kind == "extra_forbidden":
            allowed = _fields_at(loc[:-1])
            key = str(loc[-1])
            where = format_path(loc[:-1]) or "the stack file"
            out.append((loc, f"unknown key {key!r} in {where}{suggest(key, allowed)}"))
        elif kind == "missing":
            out.append((loc, "is required"))
        elif kind in ("value_error", "assertion_error"):
            msg = err["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
            out.append((loc, msg))
        elif kind == "literal_error":
            out.append((loc, f"{err['input']!r} is not allowed: {err['msg'].lower()}"))
        elif kind in _TOML_TYPES:
            out.append((loc, f"must be {_TOML_TYPES[kind]} (got {_short(err.get('input'))})"))
        else:
            out.append((loc, f"{err['msg'].lower()} (got {_short(err.get('input'))})"))
    return out


# pydantic's words for these are Python's ("a valid tuple"); a TOML user reads these
_TOML_TYPES = {
    "model_type": "a table",
    "dict_type": "a table",
    "tuple_type": "a list",
    "list_type": "a list",
}


def _is_secret_branch(err: Any) -> bool:
    return bool(err["type"] == "value_error" and err["msg"].endswith("expected a secret"))


def _clean_loc(loc: tuple[Any, ...], data: Any = None) -> tuple[str | int, ...]:
    """Drop the names pydantic adds for union members and validators ('str', 'function-...').

    A part that is a key of the input there is kept, so a container named 'list' stays.
    """
    out: list[str | int] = []
    node = data
    for part in loc:
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            node = node[part]
        elif isinstance(part, int) or ("[" not in part and part not in _TYPE_NAMES):
            node = None  # a missing key, or below a value a validator rewrote
        else:
            continue
        out.append(part)
    return tuple(out)


_TYPE_NAMES = {
    *("str", "int", "float", "bool", "list", "dict", "tuple", "none"),
    *("Secret", "is-instance[Secret]"),
}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fields_at(loc: tuple[str | int, ...]) -> list[str]:
    """Field names allowed at a location, for 'did you mean' suggestions."""
    from pydantic import BaseModel

    from hostform.declare import schema

    current: Any = schema.Stack
    for part in loc:
        if isinstance(part, int):
            continue  # _unwrap already stepped into the tuple's item type
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            f = current.model_fields.get(str(part))
            if f is None:
                return []
            current = f.annotation
        else:
            args = typing.get_args(current)
            current = args[-1] if args else None
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(tp: Any) -> Any:
    from pydantic import BaseModel

    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, __import__("types").UnionType):
            args = typing.get_args(tp)
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            tp = models[0] if models else tp
            if not models:
                return tp
        elif origin is tuple:
            args = typing.get_args(tp)
            tp = args[0] if args else tp
            if not args:
                return tp
        else:
            return tp


__all__ = ["JobSpec", "LoadedStack", "ResolvedFile", "load", "find_stack_file", "STACK_FILE"]
