"""The command line: every flag says what it does, and each command gets a typed options object
built from it (a field without its flag, or a flag nothing reads, fails here, not at run time)."""

from __future__ import annotations

import argparse

import pytest

from hostform.declare.frozen import changed
from hostform.plans.cli import SUBCOMMANDS, build_parser, main
from hostform.plans.commands import COMMANDS
from hostform.plans.options import (
    DriftCommand,
    EngineOptions,
    Exit,
    LimitOptions,
    Options,
    StackOptions,
    ValidateCommand,
    from_namespace,
)


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def _flags_without_help(parser: argparse.ArgumentParser, prefix: str) -> list[str]:
    missing = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                missing += _flags_without_help(sub, f"{prefix} {name}")
        if not action.help and not isinstance(action, argparse._HelpAction):
            missing.append(f"{prefix} {'/'.join(action.option_strings) or action.dest}")
    return missing


def test_every_flag_has_help_text() -> None:
    assert _flags_without_help(build_parser(), "hostform") == []


def _fields_read(options: Options) -> set[str]:
    read: set[str] = set()
    for field in options._fields:
        value = getattr(options, field)
        read |= _fields_read(value) if isinstance(value, Options) else {field}
    return read


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_each_command_reads_exactly_its_flags(name: str) -> None:
    p = _subparsers()[name]
    argv = [name] + (["plan.json"] if name == "show" else [] if name in ("host", "ls") else ["stack.toml"])
    args = build_parser().parse_args(argv)
    options_type, _ = COMMANDS[name]
    options = from_namespace(options_type, args)  # every field has its flag
    read = _fields_read(options)
    flags = {a.dest for a in p._actions if not isinstance(a, argparse._HelpAction)} - {"debug"}
    # in the stack group; only plan, validate and show take --untrusted and the limits of untrusted work
    optional = {"untrusted", *LimitOptions._fields}
    assert flags - read == set(), f"{name}: flags nothing reads {flags - read}"
    assert read - flags <= optional, f"{name}: fields without a flag {read - flags}"


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_a_command_line_builds_only_its_command_with_the_same_arguments(name: str) -> None:
    (sub,) = [a for a in build_parser(name)._actions if isinstance(a, argparse._SubParsersAction)]
    assert list(sub.choices) == [name]
    assert sub.choices[name].format_help() == _subparsers()[name].format_help()


def test_an_unknown_command_is_refused_naming_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--debug", "nope", "x.toml"])
    assert "choose from 'validate', 'schema', 'plan', " in capsys.readouterr().err


def test_drift_fix_takes_parallelism_and_a_lock_timeout() -> None:
    args = build_parser().parse_args(["drift", "s.toml", "--fix", "--parallelism", "3", "--lock-timeout", "7.5"])
    options = from_namespace(DriftCommand, args)
    assert options == DriftCommand(StackOptions("s.toml"), EngineOptions(), fix=True, parallelism=3, lock_timeout=7.5)


def test_validate_takes_several_stacks() -> None:
    args = build_parser().parse_args(["validate", "a.toml", "b", "--var", "x=1"])
    assert from_namespace(ValidateCommand, args) == ValidateCommand(("a.toml", "b"), ("x=1",), ())


def test_options_are_frozen_and_compare_by_value() -> None:
    options = DriftCommand(StackOptions("s.toml"), EngineOptions(), fix=True)
    assert repr(options).startswith("DriftCommand(stack=StackOptions(stack='s.toml', var=(), ")
    assert changed(options, fix=False) == DriftCommand(StackOptions("s.toml"), EngineOptions())
    assert hash(options) == hash(changed(options, json=False)) and options != changed(options, json=True)
    with pytest.raises(AttributeError):
        options.fix = False  # type: ignore[misc]
    with pytest.raises(TypeError, match="'stack' is missing"):
        StackOptions()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected or repeated 'nope'"):
        EngineOptions(nope=1)  # type: ignore[call-arg]


def test_exit_codes_are_defined_once() -> None:
    from hostform.plans import entry

    assert [int(c) for c in Exit] == [0, 1, 2, 130, 141]
    assert entry.BROKEN_PIPE == Exit.BROKEN_PIPE  # the bare --version's, which imports nothing else
