"""The `hostform` command's entry point: a bare `--version` answers before anything else is
imported (argparse and the CLI's modules cost more than the interpreter's own start);
everything else goes to plans.cli."""

from __future__ import annotations

import os
import sys

BROKEN_PIPE = 141  # standard output's reader went away (128 + SIGPIPE): plans.options.Exit too


def reader_gone(code: int) -> int:
    """Standard output's reader went away (`| head`): end quietly with `code`, as a command killed
    by SIGPIPE does. Standard output now goes nowhere, so Python's own flush at exit does not
    complain either."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor behind stdout (a test's capture)
        pass
    return code


def main() -> int:
    if sys.argv[1:] == ["--version"]:
        from hostform.plans.version import VERSION

        try:
            print(f"hostform {VERSION}", flush=True)
        except BrokenPipeError:
            return reader_gone(BROKEN_PIPE)
        return 0
    from hostform.plans.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
