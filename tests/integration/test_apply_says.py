"""What apply tells while it runs, and what the record keeps of it, on the real engine: the
signal a reloadable file's change sends, a job's output, the stop grace period a replacement
waits out, and each action's reasons and error in `history --show`."""

from __future__ import annotations

import json
import time

from tests.integration.conftest import BUSYBOX, StackFixture

STACK = f"""
[files.conf]
content = "v = 1\\n"
reload_signal = "SIGHUP"

[jobs.migrate]
image = "{BUSYBOX}"
command = ["sh", "-c", "echo migrating; echo schema v1 applied"]

[containers.web]
image = "{BUSYBOX}"
command = ["sh", "-c", "trap 'echo got-hup' HUP; while true; do sleep 0.2; done"]
env = {{ MODE = "a" }}
files = [{{ source = "conf", target = "/etc/app.conf" }}]
depends_on = {{ migrate = "completed" }}
stop_grace_period = "2s"
"""


def test_apply_shows_job_output_reload_signal_and_stop_grace(stack: StackFixture) -> None:
    stack.write(STACK)
    plan = stack.plan()
    listed = plan.out.index("jobs.migrate"), plan.out.index("containers.web")
    assert listed[0] < listed[1], plan.out  # listed in the order apply runs them
    first = stack.apply()
    lines = first.out.splitlines()
    assert "jobs.migrate | migrating" in lines and "jobs.migrate | schema v1 applied" in lines, first.out
    assert lines.index("jobs.migrate | schema v1 applied") < lines.index("containers.web: create started")

    stack.write(STACK.replace("v = 1", "v = 2"))
    web = f"{stack.name}-web"
    plan = stack.plan()
    assert plan.code == 2 and f"        ~ reload: SIGHUP to {web}\n" in plan.out, plan.both
    reload = stack.apply()
    assert f"containers.web: reload: SIGHUP to {web}" in reload.out, reload.out
    # the shell runs its trap once the running `sleep 0.2` ends
    deadline = time.monotonic() + 10
    while "got-hup" not in stack.api.logs(web).decode() and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.1)
    assert "got-hup" in stack.api.logs(web).decode()  # type: ignore[attr-defined]

    stack.write(STACK.replace("v = 1", "v = 2").replace('MODE = "a"', 'MODE = "b"'))
    replaced = stack.apply()
    said = replaced.out.splitlines()
    stopping = f"containers.web: stopping old {web} (grace 2s)"
    assert stopping in said, replaced.out
    assert said.index("containers.web: replace started") < said.index(stopping)

    shown = stack.run("history", str(stack.file), "--show", "3", check=True).out
    assert "generation 3 of stack" in shown and "apply complete" in shown, shown
    assert "    replace containers.web" in shown and '        ~ env.MODE: "a" -> "b"\n' in shown, shown


def test_json_stream_carries_the_job_output(stack: StackFixture) -> None:
    stack.write(STACK)
    out = stack.apply("--json").out
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    output = [e["message"] for e in events if e["event"] == "output"]
    assert output == ["migrating", "schema v1 applied"], events


def test_history_keeps_a_failed_actions_error_never_its_secret(stack: StackFixture) -> None:
    stack.env["APPLY_SAYS_TOKEN"] = "tok-51c9e2aa"
    stack.write(f"""
[jobs.migrate]
image = "{BUSYBOX}"
command = ["sh", "-c", "echo token=$TOKEN; printf 'esc\\\\033[2Jape\\\\n'; exit 3"]
env = {{ TOKEN = "{{{{ secret('APPLY_SAYS_TOKEN') }}}}" }}

[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
depends_on = {{ migrate = "completed" }}
""")
    failed = stack.apply(check=False)
    assert failed.code == 1 and "tok-51c9e2aa" not in failed.both, failed.both
    assert "\x1b" in stack.api.logs(f"{stack.name}-migrate").decode()  # type: ignore[attr-defined]
    assert "\x1b" not in failed.both and "esc\\u001b[2Jape" in failed.err, failed.err
    listing = stack.run("history", str(stack.file), check=True).out
    assert " apply      failed " in listing, listing
    shown = stack.run("history", str(stack.file), "--show", "1", check=True).out
    assert "apply failed" in shown and "    create jobs.migrate" in shown, shown
    assert "        error: job 'migrate' exited with code 3; last log lines: token=(secret)" in shown, shown
    assert "        not done: a dependency failed" in shown, shown
    assert "tok-51c9e2aa" not in shown and "\x1b" not in shown, shown
    as_json = json.loads(stack.run("history", str(stack.file), "--show", "1", "--json", check=True).out)
    migrate = next(c for c in as_json["changes"] if c["address"] == "jobs.migrate")
    assert migrate["result"] == "failed" and migrate["error"].startswith("job 'migrate' exited with code 3")
