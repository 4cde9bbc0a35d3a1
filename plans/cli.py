"""The hostform command: a short pipeline of named stages per command.

load -> observe -> plan -> render -> confirm -> apply -> report. Every
HostformError is translated to one line per problem at one boundary (`main`);
a traceback only with --debug.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

# hostform's models are not for third-party pydantic plugins; looking for them scans the
# entry points of every installed package (~4 ms at every start). Before any model is built.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

if TYPE_CHECKING:
    from hostform.declare.errors import HostformError

from hostform.plans.escape import for_terminal  # noqa: E402 - light: the standard library only
from hostform.plans.options import (  # noqa: E402 - light: no pydantic, no SDK
    Exit,
    HostCommand,
    ImportCommand,
    SecretsCommand,
    ValidateCommand,
    access_of,
    from_namespace,
)


class _VersionAction(argparse.Action):
    """--version reads the installed metadata only when asked (it costs ~10 ms at every start)."""

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any) -> None:
        print(f"hostform {_version()}")
        parser.exit()


def _version() -> str:
    from hostform.plans.version import VERSION  # what pyproject.toml reads too: no metadata lookup

    return VERSION


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return value


def _stack_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("stack", metavar="STACK", help="a .toml file or a folder holding hostform.toml")
    p.add_argument("--var", action="append", default=[], metavar="KEY=VALUE", help="set a variable (later wins)")
    p.add_argument("--var-file", action="append", default=[], metavar="FILE", help="TOML file of variables")
    p.add_argument(
        "--on", choices=["host", "swarm"], default=None, help="run on one engine or on Swarm (overrides [stack] target)"
    )
    p.add_argument(
        "--allow-path",
        action="append",
        default=[],
        metavar="DIR",
        help="let the stack read files under DIR too (by default only under its own folder)",
    )
    p.add_argument(
        "--allow-env",
        action="append",
        default=[],
        metavar="NAME",
        help="with --untrusted: let the stack's [stack] env read NAME as a plain value",
    )
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="validate the stack afresh, without the cache of validated stacks (also HOSTFORM_NO_CACHE=1)",
    )


def _untrusted_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--untrusted",
        action="store_true",
        help="the input may come from a stranger: limit file sizes, template time and output "
        "(also HOSTFORM_UNTRUSTED=1)",
    )


def _limit_args(p: argparse.ArgumentParser) -> None:
    """The hard limits of untrusted work (with --untrusted; always for import compose)."""
    limits = (
        ("--max-memory", "MIB", 512, "memory of the whole untrusted run"),
        ("--max-cpu", "SECONDS", 30, "CPU time of the untrusted run"),
        ("--max-seconds", "SECONDS", 60, "wall time of the untrusted run"),
        ("--max-output", "MIB", 16, "what the untrusted run prints"),
        ("--max-resources", "N", 1000, "resources one stack declares"),
        ("--max-read", "MIB", 64, "all the files one stack reads"),
    )
    for flag, metavar, default, text in limits:
        p.add_argument(
            flag, type=_positive, default=default, metavar=metavar, help=f"limit: {text} (default {default})"
        )


def _engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", "-H", default=None, help="engine address (default: DOCKER_HOST or the Docker context)")
    # TLS as the docker CLI spells it; DOCKER_TLS_VERIFY and DOCKER_CERT_PATH give the defaults
    p.add_argument("--tls", action="store_true", help="use TLS (implied by --tlsverify)")
    p.add_argument("--tlsverify", action="store_true", help="use TLS and verify the engine's certificate")
    p.add_argument("--tlscacert", metavar="FILE", help="trust certificates signed by this CA only")
    p.add_argument("--tlscert", metavar="FILE", help="client certificate")
    p.add_argument("--tlskey", metavar="FILE", help="client key")


def _build_host_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--build-host",
        metavar="ADDRESS",
        default=None,
        help="engine that builds images (default: the target engine; with --host, DOCKER_HOST or the Docker "
        "context); images built elsewhere are pushed and run by digest",
    )


def _netns_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--netns", metavar="NAME", default=None, help="read the host's network facts in this network namespace"
    )


def _parallelism_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--parallelism", type=_positive, default=10, metavar="N", help="actions at once (default 10)")


def _lock_timeout_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lock-timeout",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="wait this long for the stack's lock when another apply holds it (default 0: fail at once)",
    )


def _validate_parser(p: argparse.ArgumentParser) -> None:
    _stack_args(p)
    _untrusted_arg(p)
    _limit_args(p)
    for action in p._actions:
        if action.dest == "stack":
            action.nargs = "+"


def _no_arguments(p: argparse.ArgumentParser) -> None:
    pass


def _plan_parser(p: argparse.ArgumentParser) -> None:
    _stack_args(p)
    _untrusted_arg(p)
    _limit_args(p)
    _engine_args(p)
    _build_host_arg(p)
    p.add_argument("--out", metavar="FILE", help="save the plan as JSON for a later apply")
    p.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when there are changes")
    p.add_argument("--json", action="store_true", help="same as --format json")
    p.add_argument(
        "--format", choices=["text", "markdown", "json"], default="text", help="how to show the plan (default text)"
    )
    p.add_argument("--replace", action="append", default=[], metavar="NAME", help="force NAME's replacement")
    p.add_argument("--target", action="append", default=[], metavar="NAME", help="limit to NAME and its dependencies")
    p.add_argument("--pull", action="store_true", help="refresh image tags from the registry first")
    p.add_argument(
        "--deny",
        action="append",
        default=[],
        metavar="RULES",
        help="fail when the plan has these risky settings (host-root-mount,engine-socket,dangerous-caps,"
        "host-path-mount)",
    )
    p.add_argument("--policy", metavar="FILE", help="a TOML file outside the stack's folder: deny = [RULES]")
    p.add_argument("--strict", action="store_true", help="subnets overlapping host routes are errors, not warnings")
    _netns_arg(p)


def _apply_parser(p: argparse.ArgumentParser) -> None:
    _stack_args(p)
    _engine_args(p)
    _build_host_arg(p)
    p.add_argument("--auto-approve", action="store_true", help="do not ask")
    _parallelism_arg(p)
    p.add_argument("--json", action="store_true", help="one JSON event per line")
    p.add_argument(
        "--replace", action="append", default=[], metavar="NAME", help="force NAME's replacement (NAME[i]: one replica)"
    )
    p.add_argument("--target", action="append", default=[], metavar="NAME", help="limit to NAME and its dependencies")
    p.add_argument("--prune-volumes", action="store_true", help="also delete undeclared named volumes")
    _lock_timeout_arg(p)
    p.add_argument("--strict", action="store_true", help="subnets overlapping host routes are errors, not warnings")
    _netns_arg(p)


def _drift_parser(p: argparse.ArgumentParser) -> None:
    _stack_args(p)
    _engine_args(p)
    p.add_argument("--json", action="store_true", help="the report as JSON (docs/drift.md pins its schema)")
    p.add_argument("--fix", action="store_true", help="converge the drifted resources")
    p.add_argument("--auto-approve", action="store_true", help="with --fix: do not ask")
    p.add_argument("--include-pending", action="store_true", help="count pending changes as drift")
    _parallelism_arg(p)
    _lock_timeout_arg(p)
    _netns_arg(p)


def _destroy_parser(p: argparse.ArgumentParser) -> None:
    _stack_args(p)
    _engine_args(p)
    p.add_argument("--volumes", action="store_true", help="also delete named volumes (their data is lost)")
    p.add_argument("--auto-approve", action="store_true", help="do not ask")
    _lock_timeout_arg(p)
    _parallelism_arg(p)


def _adopt_parser(p: argparse.ArgumentParser) -> None:
    _stack_args(p)
    _engine_args(p)
    p.add_argument(
        "--project", metavar="NAME", help="the Compose project whose containers to match (default: the stack's name)"
    )
    p.add_argument("--dry-run", action="store_true", help="show what would be adopted, change nothing")
    p.add_argument("--auto-approve", action="store_true", help="do not ask")
    _lock_timeout_arg(p)


def _import_parser(p: argparse.ArgumentParser) -> None:
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND", help="what the files are")
    p = kinds.add_parser("compose", parents=[_common()], help="a Compose project (docker-compose.yml)")
    p.add_argument("file", metavar="FILE", help="the Compose file")
    p.add_argument("-f", "--file", dest="more", action="append", default=[], metavar="FILE", help="merged in order")
    p.add_argument("-o", "--out", metavar="STACK.toml", help="write here (default: standard output)")
    p.add_argument("--force", action="store_true", help="replace the -o file when it exists (never an input)")
    p.add_argument("--profile", action="append", default=[], metavar="NAME", help="enable a Compose profile")
    p.add_argument("-p", "--project-name", metavar="NAME", help="the stack's name (default: Compose's project name)")
    p.add_argument(
        "--existing-volumes",
        action="store_true",
        help="use the project's volumes by the names Compose gave them (external): their data stays",
    )
    p.add_argument(
        "--on", choices=["host", "swarm"], default="host", help="the stack's target (swarm: deploy's settings too)"
    )
    # the spelling before --on was used by every command: still read, no longer shown
    p.add_argument("--target", dest="on", choices=["host", "swarm"], help=argparse.SUPPRESS)
    _limit_args(p)


def _secrets_parser(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION", help="what to do (docs/secrets.md)")
    s = actions.add_parser("set", parents=[_common()], help="add or change one value, read from standard input")
    s.add_argument("file", metavar="FILE", help="the age-encrypted secrets file ([stack] secrets_file)")
    s.add_argument("name", metavar="NAME", help="the secret's name; its value comes from standard input, never here")
    e = actions.add_parser("edit", parents=[_common()], help="decrypt into $EDITOR, encrypt again on save")
    e.add_argument("file", metavar="FILE", help="the age-encrypted secrets file ([stack] secrets_file)")


def _prune_images_parser(p: argparse.ArgumentParser) -> None:
    _stack_args(p)
    _engine_args(p)
    p.add_argument("--keep", type=int, default=2, metavar="N", help="keep the newest N of each image (default 2)")


def _history_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("stack", metavar="STACK", help="a .toml file, a folder holding hostform.toml, or a stack's name")
    _engine_args(p)
    p.add_argument("--json", action="store_true", help="the history (or the generation) as JSON")
    p.add_argument("--show", type=_positive, metavar="N", help="one generation with its resources")
    p.add_argument(
        "--on",
        choices=["host", "swarm"],
        default=None,
        help="the record on one engine or on Swarm (overrides [stack] target)",
    )


def _ls_parser(p: argparse.ArgumentParser) -> None:
    _engine_args(p)
    p.add_argument("--json", action="store_true", help="the stacks as JSON")


def _show_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("planfile", metavar="PLANFILE", help="a plan saved with plan --out")
    _untrusted_arg(p)
    _limit_args(p)
    p.add_argument(
        "--format", choices=["text", "markdown", "json"], default="text", help="how to show the plan (default text)"
    )


def _host_parser(p: argparse.ArgumentParser) -> None:
    _engine_args(p)
    _netns_arg(p)
    p.add_argument("--json", action="store_true", help="the facts as JSON")


def _unlock_parser(p: argparse.ArgumentParser) -> None:
    _stack_args(p)
    _engine_args(p)
    p.add_argument("--force", action="store_true", help="break it even when its holder is still running here")


def _agent_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="AGENT.toml", help="the agent's configuration (docs/agent.md)")


def _proxy_parser(p: argparse.ArgumentParser) -> None:
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION", help="what to do")
    for action, text in (
        ("up", "run (or change) the edge proxy"),
        ("status", "show the edge proxy and its routes"),
        ("down", "remove the edge proxy (once no route uses it)"),
    ):
        a = actions.add_parser(action, parents=[_common()], help=text)
        a.add_argument(
            "--name",
            default=os.environ.get("HOSTFORM_PROXY") or "hostform-proxy",
            help="the proxy's stack name (default: $HOSTFORM_PROXY, else hostform-proxy)",
        )
        _engine_args(a)
        if action == "up":
            a.add_argument("--http", default="0.0.0.0:80", metavar="ADDR:PORT", help="plain HTTP listener")
            a.add_argument("--https", default=None, metavar="ADDR:PORT", help="TLS listener (routes with tls)")
            a.add_argument("--image", default="haproxy:2.6", help="the HAProxy image (default haproxy:2.6)")
        if action == "status":
            a.add_argument("--json", action="store_true", help="as JSON")
        if action == "down":
            a.add_argument("--volumes", action="store_true", help="also delete the proxy's state volume")
        if action != "status":
            _lock_timeout_arg(a)


# Each command's help and the function adding its arguments, in the order --help lists them.
SUBCOMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None]]] = {
    "validate": ("load and check stacks (no engine)", _validate_parser),
    "schema": ("print the JSON Schema of the stack format", _no_arguments),
    "plan": ("show what apply would change", _plan_parser),
    "apply": ("converge the host to the stack or a saved plan", _apply_parser),
    "drift": ("compare the host with the declaration", _drift_parser),
    "destroy": ("remove the stack's objects", _destroy_parser),
    "adopt": ("take over running containers (Compose, hand-made) without recreating them", _adopt_parser),
    "import": ("write a stack file from another tool's files", _import_parser),
    "secrets": ("change an age-encrypted secrets file (set one value, edit)", _secrets_parser),
    "prune-images": ("remove the stack's old built images no container uses", _prune_images_parser),
    "history": ("list the applies recorded on the engine, newest first", _history_parser),
    "ls": ("list every stack recorded on the engine, with its newest generation", _ls_parser),
    "show": ("render a saved plan", _show_parser),
    "host": ("show the host's network facts that plans are checked against", _host_parser),
    "unlock": ("break a lock left by a killed apply", _unlock_parser),
    "agent": ("keep the stacks of git repositories deployed, heal drift, serve a status page", _agent_parser),
    "proxy": ("run, show or remove the engine's edge proxy (routes, TLS, zero-downtime switches)", _proxy_parser),
}


def _common() -> argparse.ArgumentParser:
    """The options every command takes, before or after its name."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show a traceback on errors")
    return common


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The command line; `only` a command's name: that command's arguments alone (the others'
    took ~2 ms of every start to build, and a command line names one command)."""
    common = _common()
    parser = argparse.ArgumentParser(
        prog="hostform",
        description="Declarative provisioner for containers: plan, apply and check drift from one TOML file.",
        parents=[common],
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="what to do")
    for name, (text, arguments) in SUBCOMMANDS.items():
        if only in (None, name):
            p = sub.add_parser(name, parents=[common], help=text)
            arguments(p)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The command a command line names (its first word that is not an option), if it is one."""
    first = next((a for a in argv if not a.startswith("-")), None)
    return first if first in SUBCOMMANDS else None


def cmd_validate(o: ValidateCommand) -> int:
    """Every stack given is checked; all problems of all of them are reported. No secret's value
    is read (a lint job has none): each reference and declared source is checked, not opened."""
    from hostform.declare.errors import StackError
    from hostform.declare.load import load

    problems = []
    for path in o.stack:
        try:
            loaded = load(
                path, list(o.var_file), list(o.var), access=access_of(o), target=o.on, read_secrets=False
            )
        except StackError as exc:
            problems.extend(exc.problems)
            continue
        print(_valid_line(loaded.stack))
    if problems:
        raise StackError(problems)
    return Exit.OK


def _valid_line(s: Any) -> str:
    counts = [
        _count(len(s.containers), "container"),
        _count(len(s.jobs), "job"),
        _count(len(s.volumes), "volume"),
        _count(len(s.networks), "network"),
        _count(len(s.files), "file"),
    ]
    return f"stack {s.name!r} is valid: {', '.join(counts)}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def cmd_schema() -> int:
    from hostform.declare.jsonschema import stack_json_schema

    print(json.dumps(stack_json_schema(), indent=2))
    return Exit.OK


def cmd_import(o: ImportCommand) -> int:
    """The stack goes to --out or standard output; what was not imported to standard error."""
    from hostform.plans.compose_import import import_compose, refuse_input

    files = [o.file, *o.more]
    if o.out:
        refuse_input(o.out, files)
        _refuse_existing(o.out, o.force)
    text, skipped, secrets = import_compose(files, o.out, list(o.profile), o.project_name, o.existing_volumes, o.on)
    if o.out:
        _write_text(o.out, text, o.force)
    else:
        sys.stdout.write(text)
    for item in skipped:
        print(for_terminal(f"not imported: {item}"), file=sys.stderr)
    for name, how in sorted(secrets.items()):
        print(for_terminal(f"secret {name}: {how}"), file=sys.stderr)
    return Exit.OK


def _refuse_existing(path: str, force: bool) -> None:
    from hostform.declare.errors import Problem, StackError

    if os.path.lexists(path) and not force:
        raise StackError([Problem(path, "", "exists: --force replaces it")])


def _write_text(path: str, text: str, force: bool) -> None:
    """A new file ('x': never one that appeared meanwhile), or with --force the file replaced whole."""
    from hostform.declare.errors import Problem, StackError

    try:
        with open(path, "w" if force else "x", encoding="utf-8") as out:
            out.write(text)
    except FileExistsError:
        raise StackError([Problem(path, "", "exists: --force replaces it")]) from None
    except OSError as exc:
        raise StackError([Problem(path, "", f"cannot write: {exc.strerror or exc}")]) from None


def _run(name: str, args: argparse.Namespace) -> int:
    """validate, schema and import need no engine code: plans.commands is imported only for the others."""
    if name == "validate":
        return cmd_validate(from_namespace(ValidateCommand, args))
    if name == "schema":
        return cmd_schema()
    if name == "host":
        from hostform.plans.hostview import cmd_host

        return cmd_host(from_namespace(HostCommand, args))
    if name == "import":
        return cmd_import(from_namespace(ImportCommand, args))
    if name == "secrets":
        from hostform.plans.secrets_file import cmd_secrets

        return cmd_secrets(from_namespace(SecretsCommand, args))
    if name == "agent":
        from hostform.plans.agent.run import cmd_agent

        return cmd_agent(args.config)
    if name == "proxy":
        from hostform.plans.proxy import ProxyCommand, cmd_proxy

        return cmd_proxy(from_namespace(ProxyCommand, args))
    from hostform.plans import commands

    return commands.run(name, args)


def _wants_json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False)) or getattr(args, "format", None) == "json"


def _print_error_document(exc: HostformError, one_line: bool) -> None:
    """A command asked for JSON that failed still writes JSON to standard output: the errors,
    each with its file, line and key where known (docs/output.md); `apply --json` as one more
    event line."""
    from hostform.declare.secrets import mask_secrets

    errors = [
        {
            "file": p.file or None,
            "line": p.line,
            "key": mask_secrets(p.key) or None,
            "message": mask_secrets(p.message),
        }
        for p in exc.located()
    ]
    if one_line:
        print(json.dumps({"event": "error", "errors": errors}), flush=True)
    else:
        print(json.dumps({"format_version": "1.0", "error": True, "errors": errors}, indent=2))


def _terminated(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM unwinds like Ctrl-C, so a held stack lock is released


def main(argv: Sequence[str] | None = None) -> int:
    """The command line run; a reader of standard output that went away (`| head`), met at any
    write or at the last flush (`--help` too), ends it quietly here alone."""
    from hostform.plans.entry import reader_gone

    try:
        try:
            code = _main(argv)
        finally:
            sys.stdout.flush()
    except BrokenPipeError:
        return reader_gone(Exit.BROKEN_PIPE)
    return code


def _main(argv: Sequence[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    parser = build_parser(_command_in(given))
    args = parser.parse_args(given)  # --help and --version end here, before any of hostform is imported
    previous = signal.signal(signal.SIGTERM, _terminated)  # the applier installs its own while it runs
    try:
        subject = _confined_subject(args)
        if subject is None:
            return _command(args)
        from hostform.plans.confined import run_confined
        from hostform.plans.options import LimitOptions

        return run_confined(lambda: _command(args, confined=True), from_namespace(LimitOptions, args), subject)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _confined_subject(args: argparse.Namespace) -> str | None:
    """What a confined run's limit errors call its input; None: the command runs as it is (trusted)."""
    if args.command == "import":
        return "the Compose project"
    untrusted = getattr(args, "untrusted", False) or os.environ.get("HOSTFORM_UNTRUSTED", "") not in ("", "0")
    if args.command in ("plan", "validate") and untrusted:
        return "untrusted stack"
    if args.command == "show" and untrusted:
        return "untrusted plan file"
    return None


def _command(args: argparse.Namespace, confined: bool = False) -> int:
    """The command, its errors one line each; `confined`: a hard limit is the caller's to report."""
    from hostform.declare.bounds import LimitHit
    from hostform.declare.errors import ApplyFailed, HostformError

    try:
        return _run(args.command, args)
    except LimitHit as hit:
        if confined or args.debug:
            raise
        print(for_terminal(f"error: {hit.line('hostform', 'the memory it could get')}"), file=sys.stderr)
        return Exit.ERROR
    except HostformError as exc:
        if args.debug:
            raise
        from hostform.declare.secrets import mask_secrets

        for line in exc.lines():
            print(for_terminal(f"error: {mask_secrets(line)}"), file=sys.stderr)
        if _wants_json(args) and not isinstance(exc, ApplyFailed):  # whose summary line is out already
            _print_error_document(exc, one_line=args.command == "apply")
        return Exit.ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return Exit.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
