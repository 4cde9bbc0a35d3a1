"""The engine's side of the host's network: its networks with their subnets, and the host
ports its containers publish (two listings), as frozen records; plus `NetworkFacts`, the
one object the plan-time checks and `hostform host` read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hostform.declare import names
from hostform.runtime.engine import Engine
from hostform.runtime.hostnet import HostNet, Listener, read_host

Subnet = ipaddress.IPv4Network | ipaddress.IPv6Network

# Docker's built-in default address pools (libnetwork ipamutils), (base, size): 172.17.0.0 to
# 172.31.255.255 in /16s, then 192.168.0.0/16 in /20s. An engine started with other
# `default-address-pools` reports them in /info (recent engines); 20.10 does not, and these
# are then assumed.
DEFAULT_POOLS: tuple[tuple[str, int], ...] = (
    ("172.17.0.0/16", 16),
    ("172.18.0.0/16", 16),
    ("172.19.0.0/16", 16),
    ("172.20.0.0/14", 16),
    ("172.24.0.0/14", 16),
    ("172.28.0.0/14", 16),
    ("192.168.0.0/16", 20),
)
# the engines' own holders of published ports: Docker's proxy; Podman's per-container monitor
# (conmon keeps the port bound while netavark forwards it) and its rootless forwarder
PROXY_COMMANDS = ("docker-proxy", "dockerd", "conmon", "rootlessport")


@dataclass(frozen=True)
class EngineNetwork:
    id: str
    name: str  # engine name
    driver: str
    subnets: tuple[str, ...]
    bridge: str  # its interface on the host (bridge driver), "" otherwise
    stack: str | None  # io.hostform.stack, when hostform made it
    resource: str = ""  # io.hostform.name


@dataclass(frozen=True)
class PublishedPort:
    """A host port a container publishes, as the engine lists it."""

    protocol: str
    ip: str  # "" or 0.0.0.0 / :: for every address
    port: int
    container_id: str
    container: str  # engine name
    stack: str | None
    resource: str  # io.hostform.name ("" for an unmanaged container)
    replica: int
    kind: str  # container | job

    def owner(self) -> str:
        if self.stack:
            return f"container {self.container} (stack {self.stack!r}, {self.kind}s.{self.resource})"
        return f"container {self.container} (not managed by hostform)"


@dataclass(frozen=True)
class EngineNet:
    networks: tuple[EngineNetwork, ...]
    published: tuple[PublishedPort, ...]
    pools: tuple[tuple[str, int], ...] = DEFAULT_POOLS  # (base, size) the engine picks subnets from

    def publishing(self, protocol: str, ip: str, port: int) -> list[PublishedPort]:
        """Containers publishing a host port that a bind of `ip:port` ("" = every address) meets."""
        probe = Listener(protocol, ip or "0.0.0.0", port, 0)
        return [p for p in self.published if probe.blocks(p.protocol, p.ip, p.port)]

    def network_on(self, interface: str) -> EngineNetwork | None:
        return next((n for n in self.networks if n.bridge and n.bridge == interface), None)


@dataclass(frozen=True)
class NetworkFacts:
    """What the plan-time network checks read: the host's netlink state and the engine's view."""

    host: HostNet
    engine: EngineNet

    def is_engine_proxy(self, listener: Listener) -> bool:
        return bool(listener.owners) and all(p.command in PROXY_COMMANDS for p in listener.owners)


def read_engine_net(engine: Engine, pools: bool = False) -> EngineNet:
    """Every network and every published port of the engine (two listings; /info only with `pools`)."""
    networks = tuple(_network(n) for n in engine.list_networks())
    published = tuple(p for c in engine.list_containers() for p in _published(c))
    return EngineNet(networks, published, _pools(engine) if pools else DEFAULT_POOLS)


def read_facts(engine: Engine, netns: str | None = None, pools: bool = False) -> NetworkFacts:
    return NetworkFacts(read_host(netns), read_engine_net(engine, pools))


def free_pool_subnets(engine: EngineNet, host: HostNet, taken: Iterable[Subnet]) -> list[Subnet]:
    """The default pools' subnets the engine could still give a network declared without one.

    As libnetwork does for local networks, a subnet some engine network holds or a host
    route overlaps is skipped. Which free one it picks depends on where its last search
    stopped (not visible from outside), so only whether one is left is a prediction."""
    blocked = list(taken) + [r.network for r in host.routes if r.network.prefixlen > 0]
    free = []
    for base, size in engine.pools:
        pool = ipaddress.ip_network(base, strict=False)
        for candidate in pool.subnets(new_prefix=size) if size >= pool.prefixlen else ():
            if not any(candidate.overlaps(b) for b in blocked if b.version == candidate.version):
                free.append(candidate)
    return free


def _network(listed: dict[str, Any]) -> EngineNetwork:
    labels = listed.get("Labels") or {}
    options = listed.get("Options") or {}
    driver = str(listed.get("Driver") or "")
    ident = str(listed.get("Id") or "")
    bridge = ""
    if driver == "bridge":
        bridge = str(options.get("com.docker.network.bridge.name") or f"br-{ident[:12]}")
    ipam = (listed.get("IPAM") or {}).get("Config") or []
    return EngineNetwork(
        id=ident,
        name=str(listed.get("Name") or ""),
        driver=driver,
        subnets=tuple(str(c["Subnet"]) for c in ipam if c.get("Subnet")),
        bridge=bridge,
        stack=labels.get(names.LABEL_STACK),
        resource=labels.get(names.LABEL_NAME, ""),
    )


def _published(listed: dict[str, Any]) -> Iterable[PublishedPort]:
    labels = listed.get("Labels") or {}
    for p in listed.get("Ports") or []:
        if not p.get("PublicPort"):
            continue
        yield PublishedPort(
            protocol=str(p.get("Type") or "tcp"),
            ip=str(p.get("IP") or ""),
            port=int(p["PublicPort"]),
            container_id=str(listed.get("Id") or ""),
            container=str((listed.get("Names") or ["/"])[0]).lstrip("/"),
            stack=labels.get(names.LABEL_STACK),
            resource=labels.get(names.LABEL_NAME, ""),
            replica=int(labels.get(names.LABEL_REPLICA, "1") or 1),
            kind=labels.get(names.LABEL_KIND, "container"),
        )


def _pools(engine: Engine) -> tuple[tuple[str, int], ...]:
    info = engine.info()
    found = tuple(
        (str(p["Base"]), int(p["Size"]))
        for p in info.get("DefaultAddressPools") or []
        if p.get("Base") and p.get("Size") and ipaddress.ip_network(p["Base"], strict=False).version == 4
    )
    return found or DEFAULT_POOLS


__all__ = [
    "DEFAULT_POOLS",
    "EngineNet",
    "EngineNetwork",
    "NetworkFacts",
    "PublishedPort",
    "Subnet",
    "free_pool_subnets",
    "read_engine_net",
    "read_facts",
]
