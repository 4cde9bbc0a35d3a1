"""`hostform drift` against the real engine: each kind of drift made by hand, then found.

Every JSON report is validated against the schema pinned in docs/drift.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import jsonschema

from tests.integration.conftest import BUSYBOX, BUSYBOX2, StackFixture
from tests.unit.test_drift_schema import pinned_schema

SLEEPER = f"""
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
"""


def drift(stack: StackFixture, *extra: str) -> tuple[int, dict[str, Any]]:
    result = stack.run("drift", str(stack.file), "--json", *extra)
    assert result.code in (0, 2), result.both
    doc = json.loads(result.out)
    jsonschema.validate(doc, pinned_schema())
    assert doc["in_sync"] is (result.code == 0)
    return result.code, doc


def found(doc: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["address"], r["drift"]): r for r in doc["resources"]}


def paths(entry: dict[str, Any]) -> list[str]:
    return [f["path"] for f in entry["fields"]]


def wait_until(what: str, test: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not test():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def status(stack: StackFixture, name: str) -> dict[str, Any]:
    return dict(stack.inspect(f"{stack.name}-{name}")["State"])


def test_in_sync_after_apply(stack: StackFixture) -> None:
    stack.write(f"[containers.app]{SLEEPER}")
    stack.apply()
    code, doc = drift(stack)
    assert (code, doc["drift_count"], doc["pending_count"], doc["resources"]) == (0, 0, 0, [])
    text = stack.run("drift", str(stack.file))
    assert text.code == 0 and "No drift" in text.out, text.both


def test_stopped_and_exited(stack: StackFixture) -> None:
    stack.write(f"""
[containers.stopped]{SLEEPER}
[containers.crashed]
image = "{BUSYBOX}"
command = ["sh", "-c", "while [ ! -f /tmp/die ]; do sleep 0.1; done; exit 3"]
stop_signal = "SIGKILL"
""")
    stack.apply()
    stack.api.stop(f"{stack.name}-stopped", timeout=1)  # type: ignore[attr-defined]
    stack.api.exec_start(stack.api.exec_create(f"{stack.name}-crashed", ["touch", "/tmp/die"]))  # type: ignore[attr-defined]
    wait_until("the crash", lambda: status(stack, "crashed")["Status"] == "exited")

    code, doc = drift(stack)
    assert code == 2
    entries = found(doc)
    stopped = entries[("containers.stopped", "stopped")]
    assert {"path": "exit_code", "expected": None, "live": 137} in stopped["fields"]
    exited = entries[("containers.crashed", "exited")]
    assert {"path": "exit_code", "expected": None, "live": 3} in exited["fields"]
    assert "exited with code 3" in exited["detail"]
    assert doc["drift_count"] == 2


def test_restart_loop(stack: StackFixture) -> None:
    stack.write(f"""
[containers.loop]
image = "{BUSYBOX}"
command = ["sh", "-c", "while [ ! -f /tmp/crash ]; do sleep 0.1; done; exit 4"]
restart = "always"
stop_signal = "SIGKILL"
""")
    stack.apply()
    stack.api.exec_start(stack.api.exec_create(f"{stack.name}-loop", ["touch", "/tmp/crash"]))  # type: ignore[attr-defined]
    wait_until("a restart loop", lambda: stack.inspect(f"{stack.name}-loop")["RestartCount"] >= 3)
    for _ in range(20):  # the engine's back-off keeps it `restarting` most of the time
        code, doc = drift(stack)
        entry = found(doc).get(("containers.loop", "restarting"))
        if entry is not None:
            break
        time.sleep(0.3)
    assert code == 2 and entry is not None, doc
    assert "last exit code 4" in entry["detail"] and "restarts" in entry["detail"]


def test_unhealthy_shows_the_last_health_check(stack: StackFixture) -> None:
    stack.write(f"""
[containers.app]
image = "{BUSYBOX}"
command = ["sh", "-c", "touch /tmp/ok; exec sleep 600"]
stop_signal = "SIGKILL"
healthcheck = {{ test = ["CMD", "cat", "/tmp/ok"], interval = "1s", timeout = "1s", retries = 1 }}
""")
    stack.apply()
    wait_until("healthy", lambda: status(stack, "app").get("Health", {}).get("Status") == "healthy")
    assert drift(stack)[0] == 0
    stack.api.exec_start(stack.api.exec_create(f"{stack.name}-app", ["rm", "/tmp/ok"]))  # type: ignore[attr-defined]
    wait_until("unhealthy", lambda: status(stack, "app")["Health"]["Status"] == "unhealthy")
    code, doc = drift(stack)
    entry = found(doc)[("containers.app", "unhealthy")]
    assert code == 2 and "/tmp/ok" in entry["detail"], entry


def test_changed_by_hand_memory_network_and_config_file(stack: StackFixture) -> None:
    stack.write(f"""
[files.conf]
content = "port = 80\\n"

[containers.app]{SLEEPER}memory = "64m"
files = [{{ source = "conf", target = "/etc/app.conf" }}]

[containers.web]{SLEEPER}""")
    stack.apply()
    api = stack.api
    api.update_container(f"{stack.name}-app", mem_limit="128m", memswap_limit="256m")  # type: ignore[attr-defined]
    api.exec_start(api.exec_create(f"{stack.name}-app", ["sh", "-c", "echo 'port = 81' > /etc/app.conf"]))  # type: ignore[attr-defined]
    api.disconnect_container_from_network(f"{stack.name}-web", f"{stack.name}_default")  # type: ignore[attr-defined]

    code, doc = drift(stack)
    assert code == 2
    entries = found(doc)
    app = entries[("containers.app", "changed")]
    assert paths(app) == ["memory", "files[/etc/app.conf].sha256"]
    assert app["fields"][0] == {"path": "memory", "expected": 64 * 2**20, "live": 128 * 2**20}
    web = entries[("containers.web", "changed")]
    assert web["fields"] == [{"path": "networks", "expected": {f"{stack.name}_default": ["web"]}, "live": {}}]
    assert set(entries) == {("containers.app", "changed"), ("containers.web", "changed")}


def test_recreated_by_hand_with_copied_labels_but_other_env(stack: StackFixture) -> None:
    stack.write(f"""
[containers.app]{SLEEPER}env = {{ MODE = "a", TOKEN = "{{{{ secret('TOKEN') }}}}" }}
""")
    stack.env["TOKEN"] = "s3cret-value"
    stack.apply()
    api = stack.api
    name, net = f"{stack.name}-app", f"{stack.name}_default"
    old = stack.inspect(name)
    api.remove_container(name, force=True)  # type: ignore[attr-defined]
    copy = api.create_container(  # type: ignore[attr-defined]
        BUSYBOX,
        ["sleep", "600"],
        name=name,
        labels=old["Config"]["Labels"],
        environment=["MODE=b", "TOKEN=other"],
        stop_signal="SIGKILL",
        host_config=api.create_host_config(network_mode=net),  # type: ignore[attr-defined]
        networking_config=api.create_networking_config({net: api.create_endpoint_config(aliases=["app"])}),  # type: ignore[attr-defined]
    )
    api.start(copy["Id"])  # type: ignore[attr-defined]

    result = stack.run("drift", str(stack.file), "--json")
    assert result.code == 2, result.both
    assert "s3cret-value" not in result.both and "other" not in result.out
    entry = found(json.loads(result.out))[("containers.app", "changed")]
    assert entry["fields"] == [
        {"path": "env.MODE", "expected": "a", "live": "b"},
        {"path": "env.TOKEN", "expected": "(secret)", "live": "(secret)"},
    ]


def test_image_tag_moved(stack: StackFixture, private_tag: str) -> None:
    stack.write(f"""
[containers.app]
image = "{private_tag}"
pull = "never"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
""")
    stack.apply()
    repo, tag = private_tag.rsplit(":", 1)
    stack.api.tag(BUSYBOX2, repo, tag, force=True)  # type: ignore[attr-defined]
    code, doc = drift(stack)
    entry = found(doc)[("containers.app", "image")]
    new_id = stack.api.inspect_image(BUSYBOX2)["Id"]  # type: ignore[attr-defined]
    assert code == 2 and entry["fields"][0]["expected"] == new_id
    assert new_id.removeprefix("sha256:")[:12] in entry["detail"]


def test_squatter_on_a_declared_name(stack: StackFixture) -> None:
    stack.write(f"[containers.app]{SLEEPER}")
    stack.apply()
    name = f"{stack.name}-app"
    stack.api.remove_container(name, force=True)  # type: ignore[attr-defined]
    squat = stack.api.create_container(  # type: ignore[attr-defined]
        BUSYBOX,
        ["sleep", "600"],
        name=name,
        stop_signal="SIGKILL",
        host_config=stack.api.create_host_config(network_mode="none"),  # type: ignore[attr-defined]
    )
    try:
        stack.api.start(squat["Id"])  # type: ignore[attr-defined]
        code, doc = drift(stack)
        entry = found(doc)[("containers.app", "squatter")]
        assert code == 2 and entry["engine_name"] == name and "no hostform labels" in entry["detail"]
        assert [r["drift"] for r in doc["resources"]] == ["squatter"]
        fixed = stack.run("drift", str(stack.file), "--fix", "--auto-approve")
        assert fixed.code == 2 and "cannot fix containers.app" in fixed.both, fixed.both
        assert stack.inspect(name)["Id"] == squat["Id"]  # never touched
    finally:
        stack.api.remove_container(squat["Id"], force=True)  # type: ignore[attr-defined]


def test_missing_container_network_and_volume(stack: StackFixture) -> None:
    stack.write(f"""
[networks.back]
[volumes.data]

[containers.app]{SLEEPER}networks = ["back"]

[containers.lone]{SLEEPER}""")
    stack.apply()
    api = stack.api
    api.remove_container(f"{stack.name}-lone", force=True)  # type: ignore[attr-defined]
    api.disconnect_container_from_network(f"{stack.name}-app", f"{stack.name}_back")  # type: ignore[attr-defined]
    api.remove_network(f"{stack.name}_back")  # type: ignore[attr-defined]
    api.remove_volume(f"{stack.name}_data")  # type: ignore[attr-defined]

    code, doc = drift(stack)
    entries = found(doc)
    assert code == 2
    assert set(entries) == {
        ("containers.app", "changed"),
        ("containers.lone", "missing"),
        ("networks.back", "missing"),
        ("volumes.data", "missing"),
    }
    for address in ("containers.lone", "networks.back", "volumes.data"):
        assert "the last apply left it there: generation 1" in entries[(address, "missing")]["detail"]

    fixed = stack.run("drift", str(stack.file), "--fix", "--auto-approve")
    assert fixed.code == 0, fixed.both
    assert stack.plan().code == 0


def test_orphan(stack: StackFixture) -> None:
    stack.write(f"[containers.app]{SLEEPER}\n[containers.old]{SLEEPER}")
    stack.apply()
    stack.write(f"[containers.app]{SLEEPER}")
    code, doc = drift(stack)
    assert code == 2 and [(r["address"], r["drift"]) for r in doc["resources"]] == [("containers.old", "orphan")]


def test_pending_changes_are_not_drift_unless_included(stack: StackFixture) -> None:
    stack.write(f'[containers.app]{SLEEPER}env = {{ MODE = "a" }}\n')
    stack.apply()
    stack.write(f'[containers.app]{SLEEPER}env = {{ MODE = "b" }}\n\n[containers.new]{SLEEPER}')
    code, doc = drift(stack)
    assert (code, doc["drift_count"], doc["pending_count"]) == (0, 0, 2)
    entries = found(doc)
    assert entries[("containers.app", "pending")]["fields"] == [{"path": "env.MODE", "expected": "b", "live": "a"}]
    assert ("containers.new", "pending") in entries
    code, doc = drift(stack, "--include-pending")
    assert (code, doc["drift_count"], doc["pending_count"]) == (2, 2, 2)


def test_fix_converges_only_the_drift(stack: StackFixture) -> None:
    stack.write(f"""
[files.conf]
content = "port = 80\\n"

[containers.stopped]{SLEEPER}
[containers.resized]{SLEEPER}memory = "64m"

[containers.edited]{SLEEPER}files = [{{ source = "conf", target = "/etc/app.conf" }}]

[containers.removed]{SLEEPER}
[containers.untouched]{SLEEPER}""")
    stack.apply()
    api = stack.api
    untouched = stack.inspect(f"{stack.name}-untouched")["Id"]
    api.stop(f"{stack.name}-stopped", timeout=1)  # type: ignore[attr-defined]
    api.update_container(f"{stack.name}-resized", mem_limit="128m", memswap_limit="256m")  # type: ignore[attr-defined]
    api.exec_start(api.exec_create(f"{stack.name}-edited", ["sh", "-c", "echo x > /etc/app.conf"]))  # type: ignore[attr-defined]
    api.remove_container(f"{stack.name}-removed", force=True)  # type: ignore[attr-defined]
    before = drift(stack)[1]
    assert before["drift_count"] == 4, json.dumps(before["resources"])

    fixed = stack.run("drift", str(stack.file), "--fix", "--auto-approve", "--json")
    assert fixed.code == 0, fixed.both
    doc = json.loads(fixed.out)  # stdout holds only the re-check; the plan and progress went to stderr
    assert doc["in_sync"] and doc["resources"] == []
    assert "will be started" in fixed.err and "Fix complete" in fixed.err
    assert stack.plan().code == 0
    assert stack.inspect(f"{stack.name}-untouched")["Id"] == untouched
    assert stack.inspect(f"{stack.name}-resized")["HostConfig"]["Memory"] == 64 * 2**20


def test_fix_asks_on_a_terminal_only(stack: StackFixture) -> None:
    stack.write(f"[containers.app]{SLEEPER}")
    stack.apply()
    stack.api.stop(f"{stack.name}-app", timeout=1)  # type: ignore[attr-defined]
    result = stack.run("drift", str(stack.file), "--fix")
    assert result.code == 1 and "--auto-approve" in result.err, result.both
    assert status(stack, "app")["Status"] == "exited"  # nothing done


def test_errors_exit_1(stack: StackFixture) -> None:
    stack.write('[containers.app]\nimgae = "x"\n')
    result = stack.run("drift", str(stack.file), "--json")
    assert result.code == 1 and "imgae" in result.err, result.both
    assert json.loads(result.out)["error"] is True  # --json: the errors as a JSON document too
    stack.write(f"[containers.app]{SLEEPER}")
    result = stack.run("drift", str(stack.file), "--host", "tcp://127.0.0.1:1")
    assert result.code == 1 and "cannot reach" in result.err, result.both
