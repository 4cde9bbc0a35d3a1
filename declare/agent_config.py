"""The agent's configuration (`hostform agent agent.toml`), loaded and checked like a stack:
TOML -> pydantic -> frozen settings, every problem one line naming the file, the line and the key.

    listen = "127.0.0.1:9480"
    interval = "60s"
    cache = "/var/lib/hostform/agent"

    [[sources]]
    repo = "https://git.example.com/ops/infra.git"
    branch = "main"
    stacks = ["stacks/*/hostform.toml"]
    mode = "apply"
    self_heal = true
    prune = false
    webhook_secret_env = "HF_HOOK_SECRET"

    [notify]
    webhook = "https://chat.example.com/hooks/xyz"
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from hostform.declare.errors import Problem, StackError
from hostform.declare.lines import LineIndex, format_path
from hostform.declare.units import parse_duration

MIN_INTERVAL = 5.0  # seconds: a poll more often than this only loads the git server
DEFAULT_LISTEN = "127.0.0.1:9480"
_BRANCH_RE = re.compile(r"^(?!-)(?!.*\.\.)(?!.*//)[A-Za-z0-9._/-]+(?<![./])$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SOURCE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _seconds(value: Any) -> float:
    return parse_duration(value) / 1e9


Seconds = Annotated[float, BeforeValidator(_seconds, json_schema_input_type=str | int | float)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Model):
    """One git repository whose stacks the agent keeps deployed."""

    name: str = ""  # how /status and the page call it (default: the repository's last path part)
    repo: str
    branch: str = "main"
    stacks: tuple[str, ...] = ("**/hostform.toml",)
    mode: Literal["apply", "plan"] = "apply"
    self_heal: bool = True
    prune: bool = False
    webhook_secret_env: str | None = None
    allowed_signers: str | None = None  # an SSH allowed-signers file: only commits signed by its keys are deployed

    @field_validator("repo")
    @classmethod
    def _repo(cls, value: str) -> str:
        if not value.strip() or value.startswith("-") or any(c in value for c in "\0\n\r"):
            raise ValueError(f"{value!r} is not a repository: give a path, file://, https:// or ssh:// address")
        if value.startswith("ext::") or "::" in value.split("/", 1)[0]:
            raise ValueError("remote helpers (`transport::address`) are not allowed: use file, https or ssh")
        return value

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        if not _BRANCH_RE.match(value) or value.endswith(".lock"):
            raise ValueError(f"{value!r} is not a branch name")
        return value

    @field_validator("stacks")
    @classmethod
    def _globs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("give at least one glob, e.g. 'stacks/*/hostform.toml'")
        for glob in value:
            parts = PurePosixPath(glob).parts
            if not glob or glob.startswith("/") or ".." in parts:
                raise ValueError(f"{glob!r}: a glob inside the repository (relative, no '..')")
        return value

    @field_validator("webhook_secret_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_RE.match(value):
            raise ValueError(f"{value!r} is not an environment variable's name")
        return value

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if value and not _SOURCE_NAME_RE.match(value):
            raise ValueError(f"{value!r}: lower-case letters, digits, '-' and '_', at most 63")
        return value

    @property
    def shown_name(self) -> str:
        if self.name:
            return self.name
        tail = self.repo.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        return tail.removesuffix(".git") or "repo"


class Notify(_Model):
    webhook: str | None = None
    timeout: Seconds = 5.0

    @field_validator("webhook")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s/]+", value):
            raise ValueError(f"{_shown_url(value)!r} is not an http:// or https:// address")
        return value


class AgentConfig(_Model):
    listen: str = DEFAULT_LISTEN
    interval: Seconds = 60.0
    cache: str | None = None  # where repositories are cloned (default: see default_cache)
    parallelism: int = Field(default=4, ge=1, le=32)  # stacks synced at once
    backoff_max: Seconds = 300.0  # a failing stack is retried after 2^n * interval/8 s, at most this
    heal_debounce: Seconds = 0.3  # engine events of one stack within this are one drift check
    max_body: int = Field(default=1 << 20, ge=1024)  # the webhook's largest request body, bytes
    sources: tuple[Source, ...]
    notify: Notify = Notify()

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        if value < MIN_INTERVAL:
            raise ValueError(f"must be at least {MIN_INTERVAL:g}s (got {value:g}s)")
        return value

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        parse_listen(value)
        return value

    @field_validator("sources")
    @classmethod
    def _sources(cls, value: tuple[Source, ...]) -> tuple[Source, ...]:
        if not value:
            raise ValueError("give at least one [[sources]]")
        names = [s.shown_name for s in value]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"two sources are called {twice[0]!r}: give each a distinct `name`")
        return value

    @property
    def address(self) -> tuple[str, int]:
        return parse_listen(self.listen)


def parse_listen(value: str) -> tuple[str, int]:
    """'HOST:PORT' (IPv6 as '[::1]:PORT') -> (host, port)."""
    host, sep, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r}: expected HOST:PORT, e.g. {DEFAULT_LISTEN!r}")
    if host not in ("localhost", ""):
        try:
            ipaddress.ip_address(host)
        except ValueError:
            raise ValueError(f"{value!r}: the host must be an IP address (or localhost)") from None
    return host or "0.0.0.0", int(port)


def default_cache() -> Path:
    """/var/lib/hostform/agent for root, else under $XDG_STATE_HOME (~/.local/state)."""
    if os.geteuid() == 0:
        return Path("/var/lib/hostform/agent")
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "hostform" / "agent"


def _shown_url(url: str) -> str:
    """An address without its user info or query (they may hold a token)."""
    match = re.match(r"^([a-z]+://)(?:[^@/]*@)?([^/?#]*)", url)
    return f"{match.group(1)}{match.group(2)}/..." if match else "(address)"


def load_agent_config(path: str | Path) -> AgentConfig:
    """The configuration at `path`; StackError with one Problem per mistake (file, line, key)."""
    shown = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StackError([Problem(shown, "", f"cannot read the agent's configuration: {exc}")]) from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise StackError([Problem(shown, "", f"invalid TOML: {exc}")]) from None
    try:
        return AgentConfig.model_validate(raw)
    except ValidationError as exc:
        raise StackError(_problems(exc, shown, LineIndex(text))) from None


def _problems(exc: ValidationError, shown: str, lines: LineIndex) -> list[Problem]:
    from hostform.declare.schema import suggest

    out = []
    for err in exc.errors(include_url=False):
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        kind = err["type"]
        if kind == "extra_forbidden":
            model = _model_at(loc[:-1])
            where = format_path(loc[:-1]) or "the agent's configuration"
            message = f"unknown key {loc[-1]!r} in {where}{suggest(str(loc[-1]), model.model_fields if model else [])}"
        elif kind == "missing":
            message = "is required"
        elif kind == "literal_error":
            message = f"{err['input']!r} is not allowed: {err['msg'].lower()}"
        else:
            message = err["msg"].removeprefix("Value error, ")
        out.append(Problem(shown, format_path(loc), message, lines.line_of(loc)))
    return out


def _model_at(loc: tuple[str | int, ...]) -> type[_Model] | None:
    models: dict[str, type[_Model]] = {"sources": Source, "notify": Notify}
    named = [p for p in loc if isinstance(p, str)]
    if not named:
        return AgentConfig
    return models.get(named[0]) if len(named) == 1 else None


__all__ = ["AgentConfig", "Notify", "Source", "default_cache", "load_agent_config", "parse_listen"]
