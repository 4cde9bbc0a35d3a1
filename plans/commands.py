"""Commands that talk to the engine (filled in by the plan/apply slice)."""

from __future__ import annotations

import argparse


def _todo(args: argparse.Namespace) -> int:
    raise NotImplementedError(args.command)


cmd_plan = cmd_apply = cmd_drift = cmd_destroy = cmd_show = cmd_unlock = _todo
