"""Each command's options, typed: built once from the parsed command line (plans.cli), so the
commands never reach into the argparse namespace. A field without its flag fails at once."""

from __future__ import annotations

import argparse
import typing
from enum import IntEnum
from typing import Any, TypeVar

from hostform.declare.frozen import Frozen


class Exit(IntEnum):
    """hostform's exit codes, defined here alone."""

    OK = 0
    ERROR = 1  # an error (one line per problem on stderr)
    CHANGES = 2  # plan --detailed-exitcode: there are changes; drift: the host drifted
    INTERRUPTED = 130  # Ctrl-C or SIGTERM (128 + SIGINT, as shells count)
    BROKEN_PIPE = 141  # standard output's reader went away, e.g. `| head` (128 + SIGPIPE)


class Options(Frozen):
    """A command's options (frozen records: the 14 option dataclasses took ~8 ms of every start)."""


class LimitOptions(Options):
    """The hard limits of untrusted work (plans.confined, docs/security.md): the operator's flags."""

    max_memory: int = 512  # MiB
    max_cpu: int = 30  # seconds
    max_seconds: int = 60  # wall seconds
    max_output: int = 16  # MiB
    max_resources: int = 1000
    max_read: int = 64  # MiB of files read


NO_LIMITS_GIVEN = LimitOptions()


class StackOptions(Options):
    stack: str
    var: tuple[str, ...] = ()
    var_file: tuple[str, ...] = ()
    on: str | None = None  # host | swarm: overrides [stack] target
    allow_path: tuple[str, ...] = ()  # what the stack may read besides its own folder
    allow_env: tuple[str, ...] = ()
    untrusted: bool = False  # the input may come from a stranger (limits)
    no_cache: bool = False  # validate the stack afresh, without the cache of validated stacks
    limits: LimitOptions = NO_LIMITS_GIVEN


class EngineOptions(Options):
    host: str | None = None
    tls: bool = False
    tlsverify: bool = False
    tlscacert: str | None = None
    tlscert: str | None = None
    tlskey: str | None = None


def access_of(options: StackOptions | ValidateCommand | ShowCommand) -> Any:
    """What the stack (or a saved plan) may read, from the operator's flags and environment."""
    from hostform.declare.access import Access

    allow_path = getattr(options, "allow_path", ())
    allow_env = getattr(options, "allow_env", ())
    limits: LimitOptions = getattr(options, "limits", NO_LIMITS_GIVEN)
    return Access.from_options(
        list(allow_path), list(allow_env), options.untrusted, limits.max_resources, limits.max_read << 20
    )


class ValidateCommand(Options):
    stack: tuple[str, ...]
    var: tuple[str, ...] = ()
    var_file: tuple[str, ...] = ()
    on: str | None = None
    allow_path: tuple[str, ...] = ()
    allow_env: tuple[str, ...] = ()
    untrusted: bool = False
    limits: LimitOptions = NO_LIMITS_GIVEN


class ImportCommand(Options):
    kind: str  # compose
    file: str
    more: tuple[str, ...] = ()
    out: str | None = None
    profile: tuple[str, ...] = ()
    project_name: str | None = None
    existing_volumes: bool = False
    on: str = "host"
    force: bool = False  # -o may replace an existing file (never one the import reads)


class SecretsCommand(Options):
    action: str  # set | edit
    file: str
    name: str | None = None  # set: the secret's name


class PlanCommand(Options):
    stack: StackOptions
    engine: EngineOptions
    build_host: str | None = None
    out: str | None = None
    detailed_exitcode: bool = False
    json: bool = False
    format: str = "text"
    replace: tuple[str, ...] = ()
    target: tuple[str, ...] = ()
    pull: bool = False
    deny: tuple[str, ...] = ()
    policy: str | None = None
    strict: bool = False
    netns: str | None = None


class ApplyCommand(Options):
    stack: StackOptions
    engine: EngineOptions
    build_host: str | None = None
    auto_approve: bool = False
    parallelism: int = 10
    json: bool = False
    replace: tuple[str, ...] = ()
    target: tuple[str, ...] = ()
    prune_volumes: bool = False
    lock_timeout: float = 0.0
    strict: bool = False
    netns: str | None = None


class DriftCommand(Options):
    stack: StackOptions
    engine: EngineOptions
    json: bool = False
    fix: bool = False
    auto_approve: bool = False
    include_pending: bool = False
    parallelism: int = 10
    lock_timeout: float = 0.0
    netns: str | None = None


class DestroyCommand(Options):
    stack: StackOptions
    engine: EngineOptions
    volumes: bool = False
    auto_approve: bool = False
    lock_timeout: float = 0.0
    parallelism: int = 10


class AdoptCommand(Options):
    stack: StackOptions
    engine: EngineOptions
    project: str | None = None  # the Compose project whose containers are matched (default: the stack's name)
    dry_run: bool = False
    auto_approve: bool = False
    lock_timeout: float = 0.0


class PruneImagesCommand(Options):
    stack: StackOptions
    engine: EngineOptions
    keep: int = 2


class HistoryCommand(Options):
    stack: str
    engine: EngineOptions
    json: bool = False
    show: int | None = None  # one generation
    on: str | None = None  # host | swarm: overrides [stack] target


class ShowCommand(Options):
    planfile: str
    format: str = "text"
    untrusted: bool = False
    limits: LimitOptions = NO_LIMITS_GIVEN


class HostCommand(Options):
    engine: EngineOptions
    netns: str | None = None
    json: bool = False


class ListCommand(Options):
    engine: EngineOptions
    json: bool = False


class UnlockCommand(Options):
    stack: StackOptions
    engine: EngineOptions
    force: bool = False


OptionsT = TypeVar("OptionsT", bound=Options)


def from_namespace(cls: type[OptionsT], args: argparse.Namespace) -> OptionsT:
    """The options of `cls` from the parsed command line: nested option groups are read from the
    same namespace, lists become tuples. A field the parser does not define is a KeyError here,
    unless it has a default (a flag some commands of a group lack)."""
    given = vars(args)
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name in cls._fields:
        hint = hints[name]
        if isinstance(hint, type) and issubclass(hint, Options):
            values[name] = from_namespace(hint, args)
        elif name not in given and name in vars(cls):
            continue  # a flag only some commands of the group have (--untrusted): its default
        elif isinstance(given[name], list):
            values[name] = tuple(given[name])
        else:
            values[name] = given[name]
    return cls(**values)
