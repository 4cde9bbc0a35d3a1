"""The CLI in a pipeline, on the real engine: `plan --json | head` ends quietly with 141
(128 + SIGPIPE) and writes nothing to standard error."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.integration.conftest import BUSYBOX, StackFixture


def test_plan_json_into_a_closed_pipe_ends_quietly(stack: StackFixture) -> None:
    stack.write("".join(f'[containers.w{i}]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "600"]\n\n' for i in range(40)))
    read, write = os.pipe()
    os.close(read)  # `| head` that has read its lines and gone
    try:
        done = subprocess.run(
            [sys.executable, "-m", "hostform.plans.cli", "plan", "--json", str(stack.file)],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            env={**os.environ, **stack.env},
        )
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, "")
    assert stack.containers() == []  # a plan, nothing more
