"""Keys meaningful on one target only are errors on the other, naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostform.declare.errors import StackError
from hostform.declare.load import load

SWARM_STACK = """
[stack]
name = "t"
{target}

[networks.back]

[files.conf]
content = "a=1"

[containers.web]
image = "img:1"
replicas = 3
reservations = {{ memory = "256m", cpus = 0.5 }}
rollback = {{ parallelism = 0, order = "stop-first" }}
endpoint_mode = "dnsrr"
ports = [{{ target = 80, published = 8080, mode = "host" }}]
networks = ["back"]
files = [{{ source = "conf", target = "/etc/app.conf" }}]

[containers.web.placement]
constraints = ["node.labels.zone == a"]
preferences = [{{ spread = "node.labels.zone" }}]
max_replicas_per_node = 2

[containers.web.update]
order = "start-first"
parallelism = 2
delay = "1s"
failure_action = "rollback"
monitor = "3s"
max_failure_ratio = 0.2

[containers.agent]
image = "img:1"
global = true
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "hostform.toml"
    path.write_text(body, encoding="utf-8")
    return path


def problems(path: Path, target: str | None = None) -> list[str]:
    with pytest.raises(StackError) as exc:
        load(path, target=target)
    return exc.value.lines()


def test_swarm_keys_load_on_swarm(tmp_path: Path) -> None:
    loaded = load(write(tmp_path, SWARM_STACK.format(target='target = "swarm"')))
    web = loaded.stack.containers["web"]
    assert loaded.stack.on_swarm
    assert web.placement is not None and web.placement.max_replicas_per_node == 2
    assert web.reservations is not None and web.reservations.memory == 256 * 2**20
    assert (web.update.parallelism, web.update.monitor, web.rollback.parallelism) == (2, 3 * 10**9, 0)
    assert web.ports[0].mode == "host"
    assert loaded.stack.containers["agent"].global_


def test_swarm_keys_on_host_name_each_key(tmp_path: Path) -> None:
    lines = problems(write(tmp_path, SWARM_STACK.format(target="")))
    text = "\n".join(lines)
    for key in ("web.placement", "web.reservations", "web.rollback", "web.endpoint_mode", "agent.global"):
        assert f"containers.{key}:" in text
    for key in ("parallelism", "delay", "failure_action", "monitor", "max_failure_ratio"):
        assert f"containers.web.update.{key}: 'update.{key}' is a Swarm setting" in text
    assert "containers.web.ports[0].mode" in text


def test_cli_override_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, SWARM_STACK.format(target=""))
    assert load(path, target="swarm").stack.on_swarm
    swarm_file = write(tmp_path, SWARM_STACK.format(target='target = "swarm"'))
    assert any("is a Swarm setting" in line for line in problems(swarm_file, target="host"))


HOST_ONLY = """
[stack]
name = "t"
target = "swarm"

[networks.lan]
driver = "bridge"

[files.conf]
content = "x"
reload_signal = "HUP"

[containers.db]
image = "img:1"
healthcheck = { test = "true" }

[containers.web]
image = "img:1"
memory_reservation = "64m"
ports = ["127.0.0.1:8080:80"]
depends_on = { db = "healthy" }
"""


def test_host_keys_on_swarm_name_each_key(tmp_path: Path) -> None:
    text = "\n".join(problems(write(tmp_path, HOST_ONLY)))
    assert "containers.web.depends_on.db: condition 'healthy' cannot be honoured" in text
    assert "containers.web.memory_reservation:" in text
    assert "containers.web.ports[0]: a host address (127.0.0.1)" in text
    assert "files.conf.reload_signal:" in text
    assert "networks.lan.driver: driver 'bridge' cannot span nodes" in text


def test_global_with_replicas_is_refused(tmp_path: Path) -> None:
    body = '[stack]\nname = "t"\ntarget = "swarm"\n[containers.a]\nimage = "i"\nglobal = true\nreplicas = 2\n'
    assert any("'global' runs one task per node" in line for line in problems(write(tmp_path, body)))


def test_a_build_on_swarm_needs_a_registry_and_names_the_key(tmp_path: Path) -> None:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "Dockerfile").write_text("FROM scratch\n", encoding="utf-8")
    body = '[stack]\nname = "t"\ntarget = "swarm"\n{registry}\n[containers.a]\nimage = "t/a"\nbuild = "./app"\n'
    text = "\n".join(problems(write(tmp_path, body.format(registry=""))))
    assert "containers.a.image: image 't/a' is built on target = \"swarm\"" in text and "[stack] registry" in text
    loaded = load(write(tmp_path, body.format(registry='registry = "10.0.0.1:5000"')), environ={})
    assert loaded.stack.containers["a"].image == "10.0.0.1:5000/t/a"
