"""The `hostform` command's entry point: a bare `--version` answers before anything else is
imported (argparse and the CLI's modules cost more than the interpreter's own start);
everything else goes to plans.cli."""

from __future__ import annotations

import sys


def main() -> int:
    if sys.argv[1:] == ["--version"]:
        from hostform.plans.version import VERSION

        print(f"hostform {VERSION}")
        return 0
    from hostform.plans.cli import main as cli_main

    return cli_main()


if __name__ == "__main__":
    sys.exit(main())
