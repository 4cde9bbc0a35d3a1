"""Plan-time checks of the host's network: what the engine would only report halfway through
an apply, found before anything is touched.

The checks read a `NetworkFacts` (runtime.enginenet) and the plan, and return
conflicts (the plan is refused) and warnings; they never touch the host. Only
what the plan would bind or create is checked: the published ports of
containers it creates, replaces or starts, the networks it creates or
replaces. A no-op plan needs no facts at all (`needs_facts`).

    check                 evidence in the message                          verdict
    port bound            the socket's pid and command, or the container   conflict
                          (and its stack) the engine publishes it for
    host_ip               the host's addresses                             conflict
    subnet overlap        the route or address it overlaps                 warning (--strict: conflict)
    engine network        the engine network holding that subnet           conflict (the engine refuses it)
    no subnet declared    the engine's default pools, none left free       conflict
    macvlan / ipvlan      the parent: missing (the interfaces) or down     conflict
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hostform.declare.load import LoadedStack
from hostform.declare.spec import NetworkSpec, PortMapping
from hostform.plans.model import Action, Change, Plan

if TYPE_CHECKING:  # the readers are imported once a plan has something to check (every plan loads this)
    from hostform.runtime.engine import Engine
    from hostform.runtime.enginenet import EngineNet, NetworkFacts, Subnet
    from hostform.runtime.hostnet import HostNet, Listener, Wanted

BINDS = (Action.CREATE, Action.REPLACE, Action.START)  # a container that will (re)bind its ports
CREATES = (Action.CREATE, Action.REPLACE)
POOLED_DRIVERS = ("bridge", "macvlan", "ipvlan")  # local networks the engine's default pools serve
PARENT_DRIVERS = ("macvlan", "ipvlan")


@dataclass(frozen=True)
class HostFindings:
    conflicts: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


def with_host_checks(
    engine: Engine, loaded: LoadedStack, plan: Plan, strict: bool = False, netns: str | None = None
) -> Plan:
    """The plan with the host checks' conflicts and warnings added (the planner's hook).

    Skipped when nothing is bound or created; for a remote engine, one warning says so."""
    facts = read_facts(engine, loaded, plan, netns)
    if facts is None:
        return plan
    if isinstance(facts, str):
        return replace(plan, warnings=(*plan.warnings, facts))
    found = check(loaded, plan, facts, strict)
    return replace(plan, conflicts=(*plan.conflicts, *found.conflicts), warnings=(*plan.warnings, *found.warnings))


def read_facts(engine: Engine, loaded: LoadedStack, plan: Plan, netns: str | None = None) -> NetworkFacts | str | None:
    """What the checks of this plan read from the host and the engine: None when they need
    nothing, a warning when they cannot be read here (a remote engine)."""
    what = wanted(loaded, plan)
    if what is None:
        return None
    from hostform.runtime.enginenet import NetworkFacts, read_engine_net
    from hostform.runtime.hostnet import is_local_engine, read_host

    if not is_local_engine(engine.address):
        return f"host network checks skipped: the engine at {engine.address} does not run on this machine"
    facts = NetworkFacts(read_host(netns, what), read_engine_net(engine))
    return NetworkFacts(facts.host.with_owners(listeners_to_explain(loaded, plan, facts)), facts.engine)


def needs_facts(loaded: LoadedStack, plan: Plan) -> bool:
    """Does the plan bind a host port or create a network? (Cheap: no facts read.)"""
    return wanted(loaded, plan) is not None


def wanted(loaded: LoadedStack, plan: Plan) -> Wanted | None:
    """The facts the checks of this plan read (None: none at all)."""
    ports = [p for _, _, p in _bound_ports(loaded, plan)]
    versions = {ipaddress.ip_address(p.host_ip).version for p in ports if _specific(p.host_ip)}
    sockets = any(p.host_port and p.protocol != "sctp" for p in ports)
    links = False
    nets = loaded.stack.all_networks()
    for c in plan.changes:
        if c.kind == "network" and c.action in CREATES and c.name in nets:
            spec = nets[c.name]
            links = links or (spec.driver in PARENT_DRIVERS and bool(spec.options.get("parent")))
            subnet = _declared_subnet(spec)
            if subnet is not None:
                versions.add(subnet.version)
            elif spec.driver in POOLED_DRIVERS:
                versions.add(4)  # the default pools are IPv4
    if not (ports or versions or links):
        return None
    from hostform.runtime.hostnet import Wanted

    return Wanted(links=links, versions=tuple(sorted(versions)), sockets=sockets)


def listeners_to_explain(loaded: LoadedStack, plan: Plan, facts: NetworkFacts) -> set[int]:
    """The sockets whose owners a plan's messages name: reading every process's descriptors in
    /proc is the slow part. Not those on a port the engine publishes: the kernel lets no other
    socket share it, so they are the engine's proxy."""
    return {
        s.inode
        for _, _, port in _bound_ports(loaded, plan)
        for s in _blocking(facts.host, port)
        if not facts.engine.publishing(s.protocol, s.ip, s.port)
    }


def check(loaded: LoadedStack, plan: Plan, facts: NetworkFacts, strict: bool = False) -> HostFindings:
    conflicts = list(_port_conflicts(loaded, plan, facts))
    warnings: list[str] = []
    nets = loaded.stack.all_networks()
    taken = [ipaddress.ip_network(s, strict=False) for n in facts.engine.networks for s in n.subnets]
    for change in plan.changes:
        if change.kind != "network" or change.action not in CREATES or change.name not in nets:
            continue
        spec = nets[change.name]
        conflicts.extend(_parent_problems(change, spec, facts.host))
        subnet = _declared_subnet(spec)
        if subnet is None and spec.driver in POOLED_DRIVERS:
            from hostform.runtime.enginenet import free_pool_subnets

            free = free_pool_subnets(facts.engine, facts.host, taken)
            if not free:
                conflicts.append(_pools_exhausted(change, facts.engine))
            else:
                taken.append(free[0])  # one fewer for the next network this plan creates
            continue  # the engine skips subnets overlapping routes: nothing more to check
        if subnet is None:
            continue
        taken.append(subnet)
        conflicts.extend(_engine_overlaps(change, subnet, facts.engine))
        overlaps = list(_host_overlaps(change, subnet, facts))
        (conflicts if strict else warnings).extend(overlaps)
    return HostFindings(tuple(conflicts), tuple(warnings))


# ---------------------------------------------------------------- ports


def _bound_ports(loaded: LoadedStack, plan: Plan) -> Iterator[tuple[Change, str, PortMapping]]:
    services = loaded.stack.services()
    for c in plan.changes:
        if c.is_service and c.action in BINDS and c.name in services:
            for port in services[c.name].ports:
                yield c, f"{c.address} publishes {port}", port


def _specific(ip: str) -> bool:
    """A host_ip naming one address (not "", 0.0.0.0 or ::)."""
    return bool(ip) and not ipaddress.ip_address(ip).is_unspecified


def _blocking(host: HostNet, port: PortMapping) -> list[Listener]:
    if port.host_port is None or port.protocol == "sctp":
        return []  # the engine picks a free port; SCTP sockets are not in the dumps read
    return host.binding(port.protocol, port.host_ip, port.host_port)


def _port_conflicts(loaded: LoadedStack, plan: Plan, facts: NetworkFacts) -> Iterator[str]:
    addresses = None
    for change, what, port in _bound_ports(loaded, plan):
        if _specific(port.host_ip) and not facts.host.has_address(port.host_ip):
            addresses = addresses or ", ".join(sorted(set(facts.host.addresses()), key=_ip_order)) or "none"
            yield f"{port.host_ip} is not an address of this host (addresses: {addresses}); {what}"
            continue
        if port.host_port is None or port.protocol == "sctp":
            continue
        published = {  # one per container: a wildcard publish is listed once per address family
            p.container_id: p
            for p in facts.engine.publishing(port.protocol, port.host_ip, port.host_port)
            if p.container_id != change.current_id  # the very container this plan replaces or starts
        }
        for p in published.values():
            yield f"port {_bind(p.ip, p.port, p.protocol)} is held by {p.owner()}; {what}"
        engine_publishes = bool(facts.engine.publishing(port.protocol, port.host_ip, port.host_port))
        for s in _blocking(facts.host, port):
            if engine_publishes and (facts.is_engine_proxy(s) or not s.owners):
                continue  # the engine's proxy for a container named above (or the one replaced)
            yield f"port {s.address} is already bound by {_holders(s, facts)}; {what}"


def _holders(s: Listener, facts: NetworkFacts) -> str:
    if not s.owners:
        return "a process /proc does not name (another namespace's, or gone)"
    who = ", ".join(str(p) for p in s.owners)
    if facts.is_engine_proxy(s):
        return f"the engine's proxy ({who}) for no container publishing it now"
    return who


def _bind(ip: str, port: int, protocol: str) -> str:
    ip = ip or "0.0.0.0"
    return f"[{ip}]:{port}/{protocol}" if ":" in ip else f"{ip}:{port}/{protocol}"


def _ip_order(text: str) -> tuple[int, int]:
    ip = ipaddress.ip_address(text)
    return ip.version, int(ip)


# ---------------------------------------------------------------- networks


def _declared_subnet(spec: NetworkSpec) -> Subnet | None:
    return ipaddress.ip_network(spec.subnet, strict=False) if spec.subnet else None


def _pools_exhausted(change: Change, engine: EngineNet) -> str:
    pools = ", ".join(f"{base} in /{size}s" for base, size in engine.pools)
    return (
        f"{change.address}: the engine's default address pools ({pools}) have no subnet left that no engine "
        "network holds and no host route overlaps; creating it would fail: declare a subnet"
    )


def _engine_overlaps(change: Change, subnet: Subnet, engine: EngineNet) -> Iterator[str]:
    for n in engine.networks:
        if n.name == change.engine_name:
            continue  # the network this plan replaces
        for s in n.subnets:
            other = ipaddress.ip_network(s, strict=False)
            if other.version == subnet.version and other.overlaps(subnet):
                yield (
                    f"{change.address} {subnet} overlaps the engine network {n.name!r} ({s}): "
                    "the engine refuses overlapping subnets"
                )


def _host_overlaps(change: Change, subnet: Subnet, facts: NetworkFacts) -> Iterator[str]:
    """Routes and addresses of the host (not the engine's own bridges) the subnet overlaps."""
    said = False
    for r in facts.host.routes:
        net = r.network
        if net.prefixlen == 0 or net.version != subnet.version or not net.overlaps(subnet):
            continue
        if facts.engine.network_on(r.interface) is not None:
            continue  # an engine network's bridge: reported as an engine network above
        said = True
        via = f"via {r.interface}" if r.interface else f"via {r.gateway}"
        yield (
            f"{change.address} {subnet} overlaps the route {net} {via}: containers on it could not reach that network"
        )
    if said:
        return
    for iface in facts.host.interfaces:
        if facts.engine.network_on(iface.name) is not None:
            continue
        for cidr in iface.addresses:
            ip = ipaddress.ip_interface(cidr).ip
            if ip.version == subnet.version and ip in subnet:
                yield (
                    f"{change.address} {subnet} holds the host address {ip} ({iface.name}): "
                    "containers on it could not reach this host there"
                )


def _parent_problems(change: Change, spec: NetworkSpec, host: HostNet) -> Iterator[str]:
    parent = spec.options.get("parent", "")
    if spec.driver not in PARENT_DRIVERS or not parent:
        return
    iface = host.interface(parent)
    if iface is None:
        base, dot, vlan = parent.rpartition(".")
        lower = host.interface(base) if dot and vlan.isdigit() else None
        if lower is not None and lower.up:
            return  # the engine makes the VLAN sub-interface itself on an existing parent
        have = ", ".join(i.name for i in host.interfaces)
        yield f"{change.address}: parent interface {parent!r} ({spec.driver}) does not exist (interfaces: {have})"
    elif not iface.up:
        yield f"{change.address}: parent interface {parent!r} ({spec.driver}) is down (state {iface.state})"


__all__ = [
    "HostFindings",
    "check",
    "read_facts",
    "with_host_checks",
    "listeners_to_explain",
    "needs_facts",
    "wanted",
]
