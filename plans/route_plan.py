"""Routes in a plan (pure: reads the proxy as observed, never the engine).

A route is an in-place field: the container stays, the edge proxy changes. So it is compared
desired against live, like memory or networks: the declared route against the proxy's route
table and the servers HAProxy holds now. A difference the stack file did not make is drift
(someone changed the proxy by hand).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from hostform.declare.load import LoadedStack
from hostform.declare.spec import ContainerSpec
from hostform.plans.model import Reason, ReasonKind
from hostform.runtime.records import Observed, ObservedContainer
from hostform.runtime.routes import RouteEntry, backend_of

READY = 0  # HAProxy's admin state of a server taking requests


def tls_digest(desired_route: dict[str, Any] | None) -> str:
    """One digest of a route's certificate and key digests (keyed: nothing to guess back)."""
    tls = (desired_route or {}).get("tls")
    if not tls:
        return ""
    joined = f"{tls.get('cert_sha256')}/{tls.get('key_sha256')}"
    return hashlib.sha256(joined.encode()).hexdigest()[:16]


def desired_shape(desired: dict[str, Any]) -> dict[str, Any] | None:
    route = desired.get("route")
    if not route:
        return None
    return {"host": route["host"], "path": route["path"], "port": route["port"], "tls": tls_digest(route)}


def route_reasons(
    loaded: LoadedStack, name: str, desired: dict[str, Any], current: ObservedContainer, observed: Observed
) -> Iterable[Reason]:
    """The route of one running container, declared against the proxy."""
    view = observed.edge
    if view is None or view.edge is None:
        return  # no proxy: a conflict says so (route_conflicts)
    want = desired_shape(desired)
    entry = view.edge.routes.get(backend_of(loaded.name, name))
    have = _live_shape(entry, current, view.live)
    if want == have or (want is None and have is None):
        return
    last = current.last_applied or {}
    outside = desired_shape(last) == want  # the stack file did not change it: the proxy was
    yield Reason(ReasonKind.LIVE, "route", have, want, outside=outside)


def _live_shape(
    entry: RouteEntry | None, current: ObservedContainer, live: dict[tuple[str, str], tuple[str, int]]
) -> dict[str, Any] | None:
    if entry is None:
        return None
    shape = entry.shape()
    server = next((s for s in entry.servers if s.name == current.id[:12]), None)
    if server is None:
        return {**shape, "server": "not in the proxy"}
    held = live.get((entry.backend, server.name))
    if held is None:
        return {**shape, "server": "missing in the running proxy"}
    if held[1] != READY:
        return {**shape, "server": f"not ready (admin state {held[1]})"}
    return shape


def route_conflicts(loaded: LoadedStack, observed: Observed) -> Iterable[str]:
    """A route needs a running proxy (with a TLS listener for tls); one host and path is served
    for one container name, across every stack on the proxy."""
    routed = {n: s for n, s in loaded.stack.containers.items() if s.route is not None}
    if not routed:
        return
    view = observed.edge
    if view is None or view.edge is None:
        proxy = view.proxy if view is not None else "hostform-proxy"
        yield (
            f"{', '.join(f'containers.{n}' for n in sorted(routed))} declare a route, and no edge proxy "
            f"{proxy!r} runs on this engine: run `hostform proxy up --name {proxy}` first"
        )
        return
    yield from _tls_listener(routed, view.edge.https, view.proxy)
    claims: dict[str, str] = {}
    for entry in view.edge.routes.values():
        if entry.stack != loaded.name:
            claims[entry.key] = f"stack {entry.stack!r} containers.{entry.name}"
    for name, spec in sorted(routed.items()):
        route = spec.route
        assert route is not None
        key = f"{route.host}{route.path}"
        mine = f"stack {loaded.name!r} containers.{name}"
        if key in claims:
            yield f"route {route.host}{route.path} of {mine} is already served for {claims[key]}"
        claims.setdefault(key, mine)


def _tls_listener(routed: dict[str, ContainerSpec], https: bool, proxy: str) -> Iterable[str]:
    with_tls = sorted(n for n, s in routed.items() if s.route is not None and s.route.tls is not None)
    if with_tls and not https:
        yield (
            f"{', '.join(f'containers.{n}' for n in with_tls)} declare a TLS route, and edge proxy {proxy!r} "
            "has no TLS listener: `hostform proxy up --https ADDR:PORT`"
        )
