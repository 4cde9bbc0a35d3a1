"""The engine adapter's reads on a local socket (runtime.unix_reads, no SDK): the same answers and
the same errors as the SDK's calls on that socket."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from functools import partial

from hostform.declare.errors import EngineError
from hostform.runtime.engine import Engine
from tests.integration.conftest import BUSYBOX, REPO, StackFixture

BODY = f"""
[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
memory = "64m"
"""


VOLUME = BODY + 'volumes = ["data:/data"]\n\n[volumes.data]\n'


def test_reads_on_the_local_socket_are_the_sdks_without_making_its_client(stack: StackFixture) -> None:
    stack.write(VOLUME)
    stack.apply()
    engine = Engine()
    label = f"io.hostform.stack={stack.name}"
    ident = stack.containers()[0]["Id"]
    writer = Engine()
    writer.put_file(ident, "/tmp/app.conf", b"x = 1\n", 0o640)
    writer.put_file(ident, "/tmp/big.bin", b"x" * (1 << 20) + b"y", 0o640)  # over read_file's 1 MiB

    def reads(on: Engine) -> dict[str, object]:
        return {
            "containers": sorted(c["Id"] for c in on.list_containers(label=label)),
            "by name": [c["Id"] for c in on.list_containers(names=[f"{stack.name}-web"])],
            "inspect": on.inspect_container(ident),
            "inspect by name": on.inspect_container(f"{stack.name}-web"),
            "networks": on.list_networks(label=label),
            "volumes": on.list_volumes(label=label),
            "volume": on.inspect_volume(f"{stack.name}_data"),
            "image": on.image_facts(BUSYBOX),
            "image config": on.image_config(BUSYBOX),
            "members": on.network_members(f"{stack.name}_default"),
            "file": on.read_file(ident, "/tmp/app.conf"),
            "big": on.read_file(ident, "/tmp/big.bin"),
            "absent": on.read_file(ident, "/tmp/absent.conf"),
            "pools": on.info().get("DefaultAddressPools"),
        }

    fast = reads(engine)
    assert engine._api is None  # the SDK's client was never made
    sdk = Engine()
    sdk._reads = None  # the SDK's path on the same socket
    assert fast == reads(sdk)
    assert fast["by name"] == [ident] and fast["inspect"] == fast["inspect by name"]
    assert (fast["file"], fast["big"], fast["absent"]) == (b"x = 1\n", None, None)
    assert [v["Name"] for v in fast["volumes"]] == [f"{stack.name}_data"]  # type: ignore[attr-defined]
    assert sdk.api.trust_env is False  # no proxy or netrc lookups on a local socket


def outcome(call: Callable[[], object]) -> tuple[str, str, int | None]:
    try:
        call()
    except EngineError as exc:
        return type(exc).__name__, str(exc), exc.status
    raise AssertionError("no error")


def test_engine_errors_on_the_local_socket_are_the_sdks(docker_api: object) -> None:
    fast, sdk = Engine(), Engine()
    sdk._reads = None
    missing = f"hostform-no-such-{uuid.uuid4().hex[:8]}"
    for engine in (fast, sdk):
        assert engine.inspect_container(missing) is None
        assert engine.inspect_volume(missing) is None
        assert engine.image_facts(f"hostform-test/{missing}:1") == (None, ())
    for call in (
        lambda e: e.network_members(missing),  # 404
        lambda e: e.distribution(f"127.0.0.1:5000/{missing}:1"),  # the registry has no such image
        lambda e: e.swarm_info(),  # 503: not a manager
    ):
        assert outcome(partial(call, fast)) == outcome(partial(call, sdk))
    kind, text, status = outcome(lambda: fast.network_members(missing))
    assert (kind, status) == ("NotFound", 404) and text == f"inspect network {missing}: network {missing} not found"
    assert outcome(fast.swarm_info)[0::2] == ("EngineError", 503)
    assert fast._api is None


def test_an_engine_socket_that_is_not_there_is_unreachable() -> None:
    gone, sdk_gone = Engine("unix:///nonexistent.sock"), Engine("unix:///nonexistent.sock")
    sdk_gone._reads = None
    text = "cannot reach the Docker engine (ping unix:///nonexistent.sock): [Errno 2] No such file or directory"
    assert outcome(gone.ping) == outcome(sdk_gone.ping) == ("EngineUnreachable", text, None)
    first = "cannot reach the Docker engine at unix:///nonexistent.sock (list containers): [Errno 2]"
    assert outcome(gone.list_containers)[1].startswith(first)
    assert outcome(gone.list_containers) == outcome(sdk_gone.list_containers)
    assert gone._api is None


def test_a_remote_engine_keeps_the_sdk_path_and_its_environment() -> None:
    engine = Engine("tcp://127.0.0.1:9")  # nothing listens: constructing does not connect
    assert engine._reads is None and engine._api is not None and engine.api.trust_env is True


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
