"""`hostform host`: the network facts hostform checks plans against, as text or JSON.

Read only: one netlink dump per kind, /proc for the sockets' owners, two engine
listings. Each listening socket is marked with what holds it: the engine's proxy
for a container (and that container's stack), or a plain process.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

from hostform.declare.errors import EngineError
from hostform.runtime.engine import Engine
from hostform.runtime.enginenet import EngineNet, NetworkFacts, PublishedPort, free_pool_subnets, read_engine_net
from hostform.runtime.hostnet import HostNet, Listener, is_local_engine, read_host


@dataclass(frozen=True)
class HostView:
    facts: NetworkFacts | None  # None: the engine did not answer (the host's facts are still shown)
    host: HostNet
    engine_address: str
    engine_error: str = ""

    @property
    def engine_is_local(self) -> bool:
        return is_local_engine(self.engine_address)


def gather(engine_host: str | None, netns: str | None = None) -> HostView:
    host = read_host(netns).with_owners()
    try:
        engine = Engine(engine_host)
        engine.ping()
        return HostView(NetworkFacts(host, read_engine_net(engine, pools=True)), host, engine.address)
    except EngineError as exc:
        return HostView(None, host, engine_host or "the default engine", str(exc))


def holder(view: HostView, s: Listener) -> tuple[PublishedPort | None, bool]:
    """(the container the engine publishes this socket for, whether the engine holds it)."""
    if view.facts is None:
        return None, False
    engine = view.facts.is_engine_proxy(s)
    found = [p for p in view.facts.engine.published if s.blocks(p.protocol, p.ip, p.port)]
    return (found[0] if found and engine else None), engine


def view_json(view: HostView) -> dict[str, Any]:
    host = view.host
    out: dict[str, Any] = {
        "netns": host.netns,
        "interfaces": [
            {
                "index": i.index,
                "name": i.name,
                "kind": i.kind,
                "up": i.up,
                "state": i.state,
                "addresses": list(i.addresses),
            }
            for i in host.interfaces
        ],
        "routes": [{"destination": r.destination, "interface": r.interface, "gateway": r.gateway} for r in host.routes],
        "listeners": [_listener_json(view, s) for s in host.listeners],
        "engine": _engine_json(view),
    }
    return out


def _listener_json(view: HostView, s: Listener) -> dict[str, Any]:
    published, engine = holder(view, s)
    return {
        "protocol": s.protocol,
        "ip": s.ip,
        "port": s.port,
        "processes": [{"pid": p.pid, "command": p.command} for p in s.owners],
        "engine": engine,
        "container": published.container if published else None,
        "stack": published.stack if published else None,
        "address": f"{published.kind}s.{published.resource}" if published and published.stack else None,
    }


def _engine_json(view: HostView) -> dict[str, Any]:
    out: dict[str, Any] = {"address": view.engine_address, "local": view.engine_is_local}
    if view.facts is None:
        return {**out, "error": view.engine_error}
    engine = view.facts.engine
    free = free_pool_subnets(engine, view.host, _taken(engine))
    return {
        **out,
        "networks": [
            {"name": n.name, "driver": n.driver, "subnets": list(n.subnets), "bridge": n.bridge, "stack": n.stack}
            for n in engine.networks
        ],
        "default_pools": [{"base": b, "size": s} for b, s in engine.pools],
        "free_default_subnets": len(free),
    }


def _taken(engine: EngineNet) -> list[Any]:
    import ipaddress

    return [ipaddress.ip_network(s, strict=False) for n in engine.networks for s in n.subnets]


def view_text(view: HostView) -> list[str]:
    host = view.host
    lines = [f"interfaces{f' (network namespace {host.netns})' if host.netns else ''}:"]
    for i in host.interfaces:
        state = ("up" if i.up else "down") + (f", {i.state.lower()}" if i.state else "")
        kind = f" {i.kind}" if i.kind else ""
        lines.append(f"  {i.name:<16} {state:<22}{kind:<9} {' '.join(i.addresses) or '-'}")
    lines.append("routes:")
    lines += [f"  {r}" for r in host.routes] or ["  (none)"]
    lines.append("listening sockets:")
    for s in host.listeners:
        lines.append(f"  {s.address:<28} {_held_by(view, s)}")
    if not host.listeners:
        lines.append("  (none)")
    lines.append(f"engine networks ({view.engine_address}{'' if view.engine_is_local else ', not on this machine'}):")
    if view.facts is None:
        lines.append(f"  unreachable: {view.engine_error}")
        return lines
    for n in view.facts.engine.networks:
        owner = f"  stack {n.stack!r}" if n.stack else ""
        bridge = f" on {n.bridge}" if n.bridge else ""
        lines.append(f"  {n.name:<28} {n.driver:<8} {', '.join(n.subnets) or '-'}{bridge}{owner}")
    free = free_pool_subnets(view.facts.engine, host, _taken(view.facts.engine))
    pools = ", ".join(f"{base} in /{size}s" for base, size in view.facts.engine.pools)
    lines.append(f"  default pools ({pools}): {len(free)} subnets free")
    return lines


def _held_by(view: HostView, s: Listener) -> str:
    published, engine = holder(view, s)
    who = ", ".join(str(p) for p in s.owners) or "(owner not visible in /proc)"
    if published is not None:
        where = f"stack {published.stack!r} {published.kind}s.{published.resource}" if published.stack else "unmanaged"
        return f"{who}  engine proxy for {published.container} ({where})"
    return f"{who}  engine" if engine else who


def cmd_host(args: argparse.Namespace) -> int:
    """`hostform host`: no stack, so neither the schema (pydantic) nor the planner is imported."""
    view = gather(args.host, args.netns)
    if args.json:
        print(json.dumps(view_json(view), indent=2))
    else:
        print("\n".join(view_text(view)))
    return 0


__all__ = ["HostView", "cmd_host", "gather", "view_json", "view_text"]
