"""Drift of published ports: a host port hostform published for a container that another
process or container now serves, or that nothing serves at all.

Read from the host's sockets (runtime.hostnet, through netlink) and the engine's list
of published ports; only for stacks publishing fixed host ports, on an engine running
on this machine. A port taken by someone else cannot be fixed by hostform (it never
stops what it does not own); one served by no one is fixed by restarting the container,
which publishes it again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from hostform.declare.load import LoadedStack
from hostform.declare.names import Address, Kind
from hostform.plans.drift import Drift, DriftReport, FieldDrift, Finding, sort_findings
from hostform.plans.model import Action, Plan
from hostform.runtime.engine import Engine
from hostform.runtime.records import Observed, ObservedContainer

if TYPE_CHECKING:  # the host and engine readers: imported only for a stack publishing fixed ports
    from hostform.runtime.enginenet import NetworkFacts
    from hostform.runtime.hostnet import Listener

PROTOCOLS = ("tcp", "udp")


def with_port_drift(
    engine: Engine, loaded: LoadedStack, observed: Observed, report: DriftReport, netns: str | None = None
) -> DriftReport:
    """The report with the port findings added; reads the host only when some port needs it."""
    if not any(_fixed_ports(c) for c in observed.containers):
        return report
    from hostform.runtime.enginenet import NetworkFacts, read_engine_net
    from hostform.runtime.hostnet import Wanted, is_local_engine, read_host

    if not is_local_engine(engine.address):
        return report
    host = read_host(netns, Wanted(links=False, versions=(), sockets=True))  # the sockets alone
    facts = NetworkFacts(host, read_engine_net(engine))
    inodes = {s.inode for c in observed.containers for p in _fixed_ports(c) for s in _sockets(facts, p)}
    found = port_findings(loaded, observed, NetworkFacts(host.with_owners(inodes), facts.engine))
    return replace(report, findings=sort_findings([*report.findings, *found]))


def with_blocked_fix(
    engine: Engine, loaded: LoadedStack, report: DriftReport, plan: Plan, netns: str | None = None
) -> DriftReport:
    """What `--fix` would bind that the host holds for someone else (a container missing or
    stopped, its port now published by another): the plan's host checks (plans.hostcheck) run on
    the fix, each conflict a `port` finding of its resource, so drift names the squatter and
    --fix refuses before it changes anything, as `plan` does. Read only when --fix would bind."""
    from hostform.plans.drift import fix_plan

    fix = fix_plan(report, plan) if report.drifted else None
    if fix is None or not any(c.is_service for c in fix.actionable):
        return report
    from hostform.plans.hostcheck import check, read_facts

    facts = read_facts(engine, loaded, fix, netns)
    if facts is None or isinstance(facts, str):
        return report
    said = {f.address for f in report.findings if f.drift is Drift.PORT}
    found = [
        Finding(c.kind, c.name, c.address, c.engine_name, Drift.PORT, (), conflict)
        for c in fix.actionable
        if c.is_service and c.address not in said
        for conflict in check(loaded, replace(fix, changes=(c,)), facts).conflicts
    ]
    return replace(report, findings=sort_findings([*report.findings, *found])) if found else report


def port_findings(loaded: LoadedStack, observed: Observed, facts: NetworkFacts) -> list[Finding]:
    return [f for c in observed.containers if c.kind == "container" for f in _container_findings(c, facts)]


def _fixed_ports(c: ObservedContainer) -> list[dict[str, Any]]:
    """The fixed host ports of its last apply: the ones hostform published."""
    ports = (c.last_applied or {}).get("ports") or []
    return [p for p in ports if p.get("host_port") and p.get("protocol", "tcp") in PROTOCOLS]


def _sockets(facts: NetworkFacts, p: dict[str, Any]) -> list[Any]:
    return facts.host.binding(p.get("protocol", "tcp"), p.get("host_ip") or "", int(p["host_port"]))


def _container_findings(c: ObservedContainer, facts: NetworkFacts) -> Iterator[Finding]:
    address = str(Address.of(Kind.CONTAINER, c.name, c.replica))
    for p in _fixed_ports(c):
        protocol, ip, port = p.get("protocol", "tcp"), p.get("host_ip") or "", int(p["host_port"])
        where = f"port {ip or '0.0.0.0'}:{port}/{protocol}, published for {address},"
        field = f"ports[{ip or '0.0.0.0'}:{port}/{protocol}]"
        published = facts.engine.publishing(protocol, ip, port)
        sockets = _sockets(facts, p)
        others = [x.owner() for x in published if x.container_id != c.id]
        others += [_holder(s) for s in sockets if not facts.is_engine_proxy(s)]
        if others:
            who = "; ".join(others)
            yield _finding(c, address, FieldDrift(field, c.engine_name, who), f"{where} is served by {who}")
        elif c.state == "running" and not sockets and all(x.container_id != c.id for x in published):
            detail = f"{where} is not served: nothing listens on it and the engine publishes it for no container"
            yield _finding(c, address, FieldDrift(field, c.engine_name, None), detail, Action.RESTART)


def _holder(s: Listener) -> str:
    return ", ".join(str(o) for o in s.owners) or f"a socket on {s.address} that /proc does not name"


def _finding(
    c: ObservedContainer, address: str, field: FieldDrift, detail: str, remedy: Action = Action.NOOP
) -> Finding:
    return Finding("container", c.name, address, c.engine_name, Drift.PORT, (field,), detail, remedy)


__all__ = ["port_findings", "with_blocked_fix", "with_port_drift"]
