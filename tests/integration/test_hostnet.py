"""Host network facts and the plan-time checks, for real: inside network namespaces this test
makes with pyroute2 (interfaces, addresses, routes, sockets listening in them), never on the
host's own interfaces. The engine-side facts (published ports, networks) come from the real
engine; the host's own sockets are only read, to see the engine's proxy for a container."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hostform.runtime.hostnet import in_netns, read_host
from tests.integration.conftest import BUSYBOX, StackFixture, remove_stack_objects

PREFIX = "hfnet-"


@dataclass
class Namespace:
    """A network namespace: hf0 (up, 10.77.0.1/24, route 10.20.0.0/14 via 10.77.0.254), hfdown (down)."""

    name: str
    kind: str = ""  # the kind of interface hf0 is: dummy, or veth where the kernel has no dummy driver
    sockets: list[socket.socket] = field(default_factory=list)

    def listen(self, protocol: str, ip: str, port: int = 0) -> int:
        """A socket bound (and listening, for TCP) inside the namespace, held by this process."""

        def make() -> socket.socket:
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            s = socket.socket(family, socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM)
            s.bind((ip, port))
            if protocol == "tcp":
                s.listen()
            return s

        made = in_netns(self.name, make)
        self.sockets.append(made)
        return int(made.getsockname()[1])


def _make_interface(ipr, name: str) -> str:  # type: ignore[no-untyped-def]
    """A dummy interface; a veth pair where this kernel lacks the dummy driver."""
    from pyroute2.netlink.exceptions import NetlinkError

    try:
        ipr.link("add", ifname=name, kind="dummy")
        return "dummy"
    except NetlinkError:
        ipr.link("add", ifname=name, kind="veth", peer=f"{name}p")
        return "veth"


@pytest.fixture
def netns() -> Iterator[Namespace]:
    from pyroute2 import IPRoute
    from pyroute2 import netns as namespaces

    ns = Namespace(f"{PREFIX}{uuid.uuid4().hex[:8]}")
    namespaces.create(ns.name)

    def setup() -> str:
        with IPRoute() as ipr:
            ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")
            kind = _make_interface(ipr, "hf0")
            up = ipr.link_lookup(ifname="hf0")[0]
            ipr.addr("add", index=up, address="10.77.0.1", prefixlen=24)
            ipr.link("set", index=up, state="up")
            if kind == "veth":
                ipr.link("set", index=ipr.link_lookup(ifname="hf0p")[0], state="up")
            ipr.route("add", dst="10.20.0.0/14", gateway="10.77.0.254")
            _make_interface(ipr, "hfdown")
        return kind

    try:
        ns.kind = in_netns(ns.name, setup)
        yield ns
    finally:
        for s in ns.sockets:
            s.close()
        namespaces.remove(ns.name)


def _comm() -> str:
    return Path(f"/proc/{os.getpid()}/comm").read_text().strip()


def test_facts_read_inside_a_namespace(netns: Namespace) -> None:
    tcp = netns.listen("tcp", "10.77.0.1")
    udp = netns.listen("udp", "0.0.0.0")
    host = read_host(netns.name)
    assert host.netns == netns.name
    by_name = {i.name: i for i in host.interfaces}
    assert set(by_name) >= {"lo", "hf0", "hfdown"} and "eth0" not in by_name  # not the host's
    assert by_name["hf0"].up and by_name["hf0"].kind == netns.kind and by_name["hf0"].addresses[0] == "10.77.0.1/24"
    assert not by_name["hfdown"].up
    assert "10.20.0.0/14 via 10.77.0.254 dev hf0" in [str(r) for r in host.routes]
    assert host.has_address("10.77.0.1") and host.has_address("127.0.0.9") and not host.has_address("10.77.0.2")
    owned = host.with_owners()
    mine = {(s.protocol, s.ip, s.port): s.owners for s in owned.listeners}
    assert [(p.pid, p.command) for p in mine[("tcp", "10.77.0.1", tcp)]] == [(os.getpid(), _comm())]
    assert [p.pid for p in mine[("udp", "0.0.0.0", udp)]] == [os.getpid()]
    assert not any(s.owners for s in host.listeners)  # owners only when asked: /proc is the slow part


def test_a_missing_namespace_is_one_clear_error(stack: StackFixture) -> None:
    result = stack.run("host", "--netns", f"{PREFIX}absent-{uuid.uuid4().hex[:6]}")
    assert result.code == 1 and "network namespace" in result.err and "Traceback" not in result.both, result.both


def test_plan_refuses_a_port_bound_in_the_namespace_and_an_address_it_lacks(
    stack: StackFixture, netns: Namespace
) -> None:
    port = netns.listen("tcp", "10.77.0.1")
    wild = netns.listen("udp", "0.0.0.0")
    stack.write(
        f"""
[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
ports = ["10.77.0.1:{port}:80", "{wild}:53/udp", "10.99.0.1:8081:81"]
"""
    )
    result = stack.plan("--netns", netns.name)
    assert result.code == 1, result.both
    assert (
        f"port 10.77.0.1:{port}/tcp is already bound by pid {os.getpid()} ({_comm()}); "
        f"containers.web publishes 10.77.0.1:{port}:80/tcp"
    ) in result.both
    assert f"port 0.0.0.0:{wild}/udp is already bound by pid {os.getpid()}" in result.both  # a wildcard bind
    assert "10.99.0.1 is not an address of this host (addresses: 10.77.0.1, 127.0.0.1" in result.both
    assert "cannot converge" in result.err and "Traceback" not in result.both
    assert not stack.containers()  # refused before anything was touched: apply does the same
    applied = stack.apply("--netns", netns.name, check=False)
    assert applied.code == 1 and "already bound by pid" in applied.both and not stack.containers()


BACKEND = f"""
[networks.backend]
subnet = "10.21.0.0/16"

[containers.app]
image = "{BUSYBOX}"
command = ["sleep", "600"]
networks = ["backend"]
"""

LAN = """
[networks.lan]
driver = "macvlan"
options = { parent = "hfdown" }
"""


def test_subnets_overlapping_routes_warn_and_strict_refuses(stack: StackFixture, netns: Namespace) -> None:
    stack.write(BACKEND + LAN)
    result = stack.plan("--netns", netns.name)
    assert result.code == 1, result.both  # the macvlan parent is down
    assert (
        "networks.backend 10.21.0.0/16 overlaps the route 10.20.0.0/14 via hf0: "
        "containers on it could not reach that network"
    ) in result.both
    assert "! warning: networks.backend" in result.out
    assert "networks.lan: parent interface 'hfdown' (macvlan) is down" in result.both
    stack.write(BACKEND)
    assert stack.plan("--netns", netns.name).code == 2  # only the warning: changes to make
    strict = stack.plan("--netns", netns.name, "--strict")
    assert strict.code == 1 and "! conflict: networks.backend 10.21.0.0/16 overlaps the route" in strict.out


def test_the_engine_proxy_of_the_replaced_container_is_no_conflict_and_another_stack_is_named(
    stack: StackFixture, tmp_path: Path
) -> None:
    """The engine's docker-proxy listens in the host's namespace: these sockets are only read."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    body = f"""
[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
ports = ["127.0.0.1:{port}:8080"]
env = {{ MODE = "MODE" }}
"""
    stack.write(body.replace('"MODE" }', '"a" }'))
    stack.apply()
    stack.write(body.replace('"MODE" }', '"b" }'))
    replaced = stack.plan()
    assert replaced.code == 2 and "will be replaced" in replaced.out and "conflict" not in replaced.both, replaced.both

    other = StackFixture(f"hft{uuid.uuid4().hex[:8]}", tmp_path / "other", stack.api)
    other.dir.mkdir()
    try:
        other.write(body.replace('"MODE" }', '"a" }'))
        result = other.plan()
        assert result.code == 1, result.both
        assert (
            f"port 127.0.0.1:{port}/tcp is held by container {stack.name}-web "
            f"(stack {stack.name!r}, containers.web); containers.web publishes 127.0.0.1:{port}:8080/tcp"
        ) in result.both
    finally:
        remove_stack_objects(stack.api, other.name)

    shown = json.loads(stack.run("host", "--json", check=True).out)
    held = [s for s in shown["listeners"] if s["port"] == port]
    assert held and held[0]["engine"] and held[0]["stack"] == stack.name and held[0]["address"] == "containers.web"
    assert any(n["name"] == f"{stack.name}_default" and n["subnets"] for n in shown["engine"]["networks"])


def test_hostform_host_shows_a_namespace(stack: StackFixture, netns: Namespace) -> None:
    port = netns.listen("tcp", "10.77.0.1")
    text = stack.run("host", "--netns", netns.name, check=True).out
    assert "hf0" in text and "10.77.0.1/24" in text and "10.20.0.0/14 via 10.77.0.254 dev hf0" in text
    assert f"10.77.0.1:{port}/tcp" in text and f"pid {os.getpid()} ({_comm()})" in text
    shown = json.loads(stack.run("host", "--netns", netns.name, "--json", check=True).out)
    assert shown["netns"] == netns.name
    assert {"protocol": "tcp", "ip": "10.77.0.1", "port": port} in [
        {k: s[k] for k in ("protocol", "ip", "port")} for s in shown["listeners"]
    ]


def test_drift_names_the_process_serving_a_port_hostform_published(stack: StackFixture, netns: Namespace) -> None:
    """The engine publishes on the host; the stranger listens in the test's namespace, where drift reads."""
    port = netns.listen("tcp", "0.0.0.0")
    stack.write(
        f"""
[containers.web]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
ports = ["127.0.0.1:{port}:8080"]
"""
    )
    stack.apply()
    assert (
        stack.run("drift", str(stack.file), "--netns", netns.name).code == 2
    )  # running, but the namespace's socket holds it
    stack.api.stop(f"{stack.name}-web", timeout=0)  # type: ignore[attr-defined]
    result = stack.run("drift", str(stack.file), "--json", "--netns", netns.name)
    assert result.code == 2, result.both
    found = {(r["address"], r["drift"]): r for r in json.loads(result.out)["resources"]}
    assert set(found) == {("containers.web", "stopped"), ("containers.web", "port")}, found
    assert found[("containers.web", "port")]["detail"] == (
        f"port 127.0.0.1:{port}/tcp, published for containers.web, is served by pid {os.getpid()} ({_comm()})"
    )
    text = stack.run("drift", str(stack.file), "--netns", netns.name)
    assert "ports taken by something else must be dealt with by hand" in text.out, text.both
    on_host = json.loads(
        stack.run("drift", str(stack.file), "--json", check=False).out or "{}"
    )  # the host's own loopback: nothing holds the port
    assert [(r["address"], r["drift"]) for r in on_host["resources"]] == [("containers.web", "stopped")]


HOST_PROBE = """
import json, sys
from hostform.plans.cli import main
code = main(["host", "--json", "--netns", sys.argv[1]])
print(json.dumps({"code": code, "loaded": [m for m in ("pydantic", "hostform.declare.load") if m in sys.modules]}))
"""


def test_hostform_host_imports_no_stack_machinery(netns: Namespace) -> None:
    """It reads no stack: neither pydantic nor the loader (~70 ms at every start)."""
    proc = subprocess.run([sys.executable, "-c", HOST_PROBE, netns.name], capture_output=True, text=True, timeout=120)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"code": 0, "loaded": []}, proc.stderr
