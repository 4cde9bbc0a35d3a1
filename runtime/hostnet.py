"""The host's own network state, read through netlink (pyroute2) into frozen records.

One dump per kind: links, addresses, routes (both families in one), and the
socket-diagnostics dumps of listening TCP and bound UDP sockets per family.
Owning processes come from /proc, only for the sockets asked about (scanning
every process's descriptors is the slow part). `read_host(netns="x")` reads
inside a named network namespace: a short-lived thread enters it (setns is
per thread), opens the sockets there and leaves with the records, so the
caller's own namespace is never switched.

pyroute2 costs ~100 ms to import: it is imported by `read_host` only, which a
plan calls only when it has something to check (see plans.hostcheck).
"""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from hostform.declare.errors import HostNetError

T = TypeVar("T")

IFF_UP = 0x1
MAIN_TABLE, LOCAL_TABLE = 254, 255
RTN_UNICAST, RTN_LOCAL = 1, 2
TCP_LISTEN = 10
UDP_UNCONNECTED = 7  # a bound UDP socket with no peer is in the kernel's TCP_CLOSE state
WILDCARDS = ("0.0.0.0", "::")


@dataclass(frozen=True)
class Interface:
    index: int
    name: str
    kind: str  # "" for a physical device; veth, bridge, macvlan, vlan, dummy ...
    up: bool  # administratively up (IFF_UP)
    state: str  # the kernel's operational state: UP, DOWN, UNKNOWN, LOWERLAYERDOWN ...
    addresses: tuple[str, ...]  # CIDR, e.g. 10.0.0.1/24


@dataclass(frozen=True)
class Route:
    destination: str  # CIDR; 0.0.0.0/0 or ::/0 for a default route
    interface: str  # the outgoing interface's name, "" when none
    gateway: str  # "" when directly connected

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.destination, strict=False)

    def __str__(self) -> str:
        via = f" via {self.gateway}" if self.gateway else ""
        dev = f" dev {self.interface}" if self.interface else ""
        return f"{self.destination}{via}{dev}"


@dataclass(frozen=True)
class Process:
    pid: int
    command: str  # /proc/PID/comm: nginx, docker-proxy
    args: tuple[str, ...] = ()  # /proc/PID/cmdline

    def __str__(self) -> str:
        return f"pid {self.pid} ({self.command})"


@dataclass(frozen=True)
class Listener:
    """A listening TCP socket, or a bound unconnected UDP socket."""

    protocol: str  # tcp | udp
    ip: str  # 0.0.0.0 and :: are wildcard binds
    port: int
    inode: int
    owners: tuple[Process, ...] = ()  # filled by with_owners(); empty when /proc does not tell

    @property
    def address(self) -> str:
        ip = f"[{self.ip}]" if ":" in self.ip else self.ip
        return f"{ip}:{self.port}/{self.protocol}"

    def blocks(self, protocol: str, ip: str, port: int) -> bool:
        """Would binding `ip:port/protocol` ("" for every address) fail because of this socket?"""
        if protocol != self.protocol or port != self.port:
            return False
        if self.ip == "::" or not ip or ip in WILDCARDS or self.ip == ip:
            return True  # a dual-stack [::] bind takes the port on IPv4 addresses too
        return self.ip == "0.0.0.0" and ":" not in ip


@dataclass(frozen=True)
class HostNet:
    interfaces: tuple[Interface, ...]
    routes: tuple[Route, ...]  # the main table's unicast routes
    listeners: tuple[Listener, ...]
    local: tuple[str, ...] = ()  # the local table's "local" routes (CIDR): what a socket may bind
    netns: str | None = None  # the namespace read; None: this process's own
    wanted: Wanted | None = None  # what was read (None: everything)

    def interface(self, name: str) -> Interface | None:
        return next((i for i in self.interfaces if i.name == name), None)

    def addresses(self) -> list[str]:
        """Every address of every interface (without prefix lengths)."""
        return [a.split("/")[0] for i in self.interfaces for a in i.addresses]

    def has_address(self, ip: str) -> bool:
        """Can a socket bind this address here? An interface's address, or one a local route covers
        (all of 127.0.0.0/8 on lo), as the kernel decides."""
        want = ipaddress.ip_address(ip)
        if any(ipaddress.ip_address(a) == want for a in self.addresses()):
            return True
        return any(want in ipaddress.ip_network(n, strict=False) for n in self.local)

    def binding(self, protocol: str, ip: str, port: int) -> list[Listener]:
        """Sockets that would make binding `ip:port` ("" = wildcard) fail."""
        return [s for s in self.listeners if s.blocks(protocol, ip, port)]

    def with_owners(self, inodes: Iterable[int] | None = None, proc: str = "/proc") -> HostNet:
        """The same facts with the owning processes of the given sockets (every socket: None)."""
        wanted = {s.inode for s in self.listeners} if inodes is None else set(inodes)
        owners = socket_owners(wanted, proc)
        listeners = tuple(
            replace(s, owners=owners.get(s.inode, ())) if s.inode in wanted else s for s in self.listeners
        )
        return replace(self, listeners=listeners)


@dataclass(frozen=True)
class Wanted:
    """What to read. Every dump grows with the host (each container adds a veth, its IPv6
    link-local address and routes), so a plan asks only for what its checks use."""

    links: bool = True  # every interface with its kind and state (else: only those holding an address)
    versions: tuple[int, ...] = (4, 6)  # addresses and routes of these IP versions
    sockets: bool = True


EVERYTHING = Wanted()


def read_host(netns: str | None = None, wanted: Wanted = EVERYTHING) -> HostNet:
    """Interfaces, routes and listening sockets of this host (or of the named namespace)."""
    facts = in_netns(netns, lambda: _read(wanted)) if netns else _read(wanted)
    return replace(facts, netns=netns)


def in_netns(netns: str, fn: Callable[[], T]) -> T:
    """Run fn in a fresh thread moved into the namespace: setns(2) changes the calling thread only."""
    result: list[T] = []
    failure: list[BaseException] = []

    def inside() -> None:
        from pyroute2.netns import setns

        try:
            setns(netns, flags=0)  # flags=0: never create it
            result.append(fn())
        except BaseException as exc:  # handed to the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=inside, name=f"netns {netns}")
    thread.start()
    thread.join()
    if failure:
        if isinstance(failure[0], OSError) and not isinstance(failure[0], HostNetError):
            raise HostNetError(f"network namespace {netns!r}: {failure[0].strerror or failure[0]}") from None
        raise failure[0]
    return result[0]


def _read(wanted: Wanted) -> HostNet:
    import socket

    from pyroute2 import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError

    versions = set(wanted.versions)
    family = socket.AF_UNSPEC if len(versions) != 1 else socket.AF_INET if 4 in versions else socket.AF_INET6
    links: list[Any] = []
    addrs: list[Any] = []
    routes: list[Any] = []
    found: list[tuple[str, Any]] = []
    try:
        with IPRoute() as ipr:
            if wanted.links:
                links = list(ipr.get_links())
            if wanted.versions:
                addrs, routes = list(ipr.get_addr(family=family)), list(ipr.get_routes(family=family))
        if wanted.sockets:
            found = _sockets()
    except (NetlinkError, OSError) as exc:
        raise HostNetError(f"reading the host's network state through netlink: {exc}") from None
    by_index: dict[int, list[str]] = {}
    for a in addrs:
        by_index.setdefault(int(a["index"]), []).append(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
    if links:
        interfaces = tuple(_interface(link, by_index.get(int(link["index"]), [])) for link in links)
    else:  # named by the kernel (an ioctl in this thread's namespace), without a links dump
        interfaces = tuple(
            Interface(i, _name_of(i), "", True, "UNKNOWN", tuple(a)) for i, a in sorted(by_index.items())
        )
    names = {i.index: i.name for i in interfaces}
    return HostNet(
        interfaces=interfaces,
        routes=tuple(_routes(routes, names)),
        local=tuple(
            f"{r.get_attr('RTA_DST')}/{r['dst_len']}"
            for r in routes
            if _table(r) == LOCAL_TABLE and r["type"] == RTN_LOCAL
        ),
        listeners=tuple(sorted(set(_listeners(found)), key=lambda s: (s.protocol, s.port, s.ip))),
        wanted=wanted,
    )


def _sockets() -> list[tuple[str, Any]]:
    """Listening TCP and bound UDP sockets of both families (socket diagnostics)."""
    import socket

    from pyroute2 import DiagSocket

    with DiagSocket() as diag:
        diag.bind()
        return [
            (proto, msg)
            for family in (socket.AF_INET, socket.AF_INET6)
            for proto, number, states in (
                ("tcp", socket.IPPROTO_TCP, 1 << TCP_LISTEN),
                ("udp", socket.IPPROTO_UDP, 1 << UDP_UNCONNECTED),
            )
            for msg in diag.get_sock_stats(family=family, protocol=number, states=states)
        ]


def _name_of(index: int) -> str:
    import socket

    try:
        return socket.if_indextoname(index)
    except OSError:
        return f"if{index}"


def _interface(link: Any, addresses: list[str]) -> Interface:
    info = link.get_attr("IFLA_LINKINFO")
    return Interface(
        index=int(link["index"]),
        name=str(link.get_attr("IFLA_IFNAME")),
        kind=str((info.get_attr("IFLA_INFO_KIND") if info else None) or ""),
        up=bool(link["flags"] & IFF_UP),
        state=str(link.get_attr("IFLA_OPERSTATE") or "UNKNOWN"),
        addresses=tuple(addresses),
    )


def _routes(messages: Iterable[Any], names: dict[int, str]) -> Iterator[Route]:
    for r in messages:
        if _table(r) != MAIN_TABLE or r["type"] != RTN_UNICAST:
            continue
        default = "::" if r["family"] == 10 else "0.0.0.0"
        yield Route(
            destination=f"{r.get_attr('RTA_DST') or default}/{r['dst_len']}",
            interface=names.get(int(r.get_attr("RTA_OIF") or 0), ""),
            gateway=str(r.get_attr("RTA_GATEWAY") or ""),
        )


def _table(route: Any) -> int:
    return int(route.get_attr("RTA_TABLE") or route["table"])


def _listeners(found: Iterable[tuple[str, Any]]) -> Iterator[Listener]:
    for proto, msg in found:
        if proto == "udp" and msg["idiag_dport"]:
            continue  # connected: not serving anyone
        yield Listener(proto, str(msg["idiag_src"]), int(msg["idiag_sport"]), int(msg["idiag_inode"]))


def socket_owners(inodes: set[int], proc: str = "/proc") -> dict[int, tuple[Process, ...]]:
    """Which processes hold these sockets: each process's descriptors, read as socket:[INODE]."""
    holders: dict[int, list[int]] = {}
    if not inodes:
        return {}
    for pid in (int(p) for p in os.listdir(proc) if p.isdigit()):
        for inode in _socket_inodes(f"{proc}/{pid}/fd"):
            if inode in inodes:
                holders.setdefault(inode, []).append(pid)
    return {inode: tuple(_process(pid, proc) for pid in sorted(set(pids))) for inode, pids in holders.items()}


def _socket_inodes(fd_dir: str) -> Iterator[int]:
    try:
        fds = os.listdir(fd_dir)
    except OSError:  # gone, or not ours to read
        return
    for fd in fds:
        try:
            target = os.readlink(f"{fd_dir}/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            yield int(target[8:-1])


def _process(pid: int, proc: str) -> Process:
    try:
        with open(f"{proc}/{pid}/comm", encoding="utf-8", errors="replace") as fh:
            command = fh.read().strip()
        with open(f"{proc}/{pid}/cmdline", "rb") as fh:
            args = tuple(a.decode(errors="replace") for a in fh.read().split(b"\0") if a)
    except OSError:
        return Process(pid, "?")
    return Process(pid, command, args)


def is_local_engine(address: str) -> bool:
    """Does the engine run on this machine (a unix socket, or TCP on a loopback address)?"""
    if address.startswith(("unix://", "npipe://")) or address.startswith("/"):
        return True
    if address.startswith("tcp://"):
        host = address[len("tcp://") :].rsplit(":", 1)[0].strip("[]")
        if host == "localhost":
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False
    return False


__all__ = [
    "HostNet",
    "Interface",
    "Listener",
    "Process",
    "Route",
    "EVERYTHING",
    "Wanted",
    "in_netns",
    "is_local_engine",
    "read_host",
    "socket_owners",
]
