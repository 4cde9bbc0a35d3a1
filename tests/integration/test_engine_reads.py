"""The engine adapter's bulk reads on a local socket: one kept-alive connection, same answers as the SDK."""

from __future__ import annotations

import json
import subprocess
import sys

from hostform.runtime.engine import Engine
from tests.integration.conftest import BUSYBOX, REPO, StackFixture

BODY = f"""
[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
memory = "64m"
"""


def test_inspect_on_the_local_socket_matches_the_sdk(stack: StackFixture) -> None:
    stack.write(BODY)
    stack.apply()
    engine = Engine()
    assert engine._local_pool is not None and engine.api.trust_env is False
    ident = stack.containers()[0]["Id"]

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the SDK's inspect was used on a local socket")

    sdk_inspect = engine.api.inspect_container
    engine.api.inspect_container = refuse  # type: ignore[method-assign]
    fast = engine.inspect_container(ident)
    engine.api.inspect_container = sdk_inspect  # type: ignore[method-assign]
    assert fast == sdk_inspect(ident)
    assert engine.inspect_container(f"{stack.name}-web") == fast  # by name too


def test_a_missing_container_and_engine_errors_still_go_through_the_sdk(docker_api: object) -> None:
    engine = Engine()
    assert engine.inspect_container("hostform-no-such-container") is None
    assert engine._local_get("/containers/hostform-no-such-container/json") is None  # 404: left to the SDK


def test_a_remote_engine_keeps_the_sdk_path_and_its_environment() -> None:
    engine = Engine("tcp://127.0.0.1:9")  # nothing listens: constructing does not connect
    assert engine._local_pool is None and engine.api.trust_env is True
    assert engine._local_get("/containers/x/json") is None


NOOP_PATH = """
import sys
from hostform.plans.cli import main
code = main(["plan", sys.argv[1], "--detailed-exitcode"])
heavy = ("rich", "deepdiff", "jinja2", "hostform.plans.apply", "hostform.plans.planfile", "hostform.runtime.lock",
         "hostform.plans.progress", "pyroute2", "hostform.runtime.hostnet", "hostform.runtime.enginenet",
         "hostform.plans.hostcheck", "hostform.plans.exposure", "hostform.plans.filediff",
         "hostform.runtime.build_context")
from hostform.declare import schema  # validators built: none when the stack came from the cache
built = [n for n, c in vars(schema).items() if isinstance(c, type) and issubclass(c, schema.Model)
         and c.__pydantic_complete__]
print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules], "built": built}), file=sys.stderr)
"""


def test_a_no_op_plan_on_a_pipe_loads_only_what_it_needs(stack: StackFixture) -> None:
    # Not a timing test (bench/plan_noop.py measures): it keeps the no-op path free of the
    # modules only other paths need, each of which costs several ms at every run.
    # The second plan reads the validated stack from the cache of validated stacks: no pydantic
    # validator is built at all (the models defer them; nothing on the path calls model_dump).
    stack.write(BODY)
    stack.apply()
    for _ in range(2):
        proc = subprocess.run(
            [sys.executable, "-c", "import json\n" + NOOP_PATH, str(stack.file)],
            capture_output=True,
            text=True,
            cwd=REPO,
            timeout=120,
        )
        report = json.loads(proc.stderr.strip().splitlines()[-1])
        assert report["code"] == 0 and report["loaded"] == [], proc.stdout + proc.stderr
        assert "No changes" in proc.stdout
    assert report["built"] == [], report


def test_forced_colour_draws_with_rich(stack: StackFixture) -> None:
    stack.write(BODY)
    stack.env["FORCE_COLOR"] = "1"
    plan = stack.plan()
    assert plan.code == 2 and "\x1b[" in plan.out, plan.out
