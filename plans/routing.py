"""Switching the edge proxy while a stack is applied: a container with a route is added once it
is ready, and retired (drained, then deleted from the proxy) before it stops.

Every change to the proxy's route table is made under the proxy stack's own lock, so stacks
applied at the same time never overwrite each other's routes. Waiting for a drained server to
finish its requests happens outside the lock.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

from hostform.declare import names
from hostform.declare.errors import ApplyError
from hostform.declare.load import LoadedStack, route_file_name
from hostform.declare.spec import ContainerSpec
from hostform.plans.route_plan import desired_shape
from hostform.runtime import edge
from hostform.runtime.engine import Engine
from hostform.runtime.routes import Edge, RouteEntry, Server, backend_of
from hostform.runtime.state import read_state

LOCK_PATIENCE = 300.0  # another stack's switch (its drain included) may hold the proxy this long


@contextmanager
def proxy_locked(engine: Engine) -> Iterator[Edge]:
    from hostform.runtime.lock import stack_lock

    proxy = names.proxy_name()
    with stack_lock(engine, proxy, "route switch", LOCK_PATIENCE):
        found = edge.find_edge(engine, proxy)
        if found is None:
            raise ApplyError(f"no edge proxy {proxy!r} runs on this engine: `hostform proxy up --name {proxy}`")
        yield found


def attach(engine: Engine, loaded: LoadedStack, name: str, ident: str, desired: dict[str, object]) -> None:
    """The container `ident` (ready) serves its route: the route made or changed (a reload), the
    container added as a server (the runtime API, no reload)."""
    spec = loaded.stack.containers[name]
    shape = desired_shape(dict(desired))
    if spec.route is None or shape is None:
        raise ApplyError(f"internal: containers.{name} has no route")
    with proxy_locked(engine) as found:
        addr = edge.container_address(engine, ident, found.network)
        if addr is None:
            raise ApplyError(f"containers.{name} ({ident[:12]}) is not on the edge network {found.network}")
        backend = backend_of(loaded.name, name)
        server = Server(ident[:12], f"{addr}:{spec.route.port}")
        old = found.routes.get(backend)
        others = tuple(s for s in (old.servers if old else ()) if s.name != server.name)
        entry = RouteEntry(loaded.name, name, shape["host"], shape["path"], shape["port"], shape["tls"], others)
        if spec.route.tls is not None:
            _put_cert(engine, found, loaded, name, backend)
        routes = dict(found.routes)
        if old is not None and old.shape() == entry.shape():
            held = edge.live_servers(engine, found).get((backend, server.name))
            if held is None:
                edge.add_server(engine, found, backend, server)
            elif held != (server.addr, 0):  # changed by hand (maintenance, drain, another address)
                edge.restore_server(engine, found, backend, server)
            routes[backend] = replace(entry, servers=(*others, server))
            edge.write_routes(engine, found, routes, reload=False)
        else:  # a new or changed route: rendered with its servers, then a reload
            routes[backend] = replace(entry, servers=(*others, server))
            edge.write_routes(engine, found, routes)


def _put_cert(engine: Engine, found: Edge, loaded: LoadedStack, name: str, backend: str) -> None:
    cert = loaded.files.get(route_file_name(name, "cert"))
    key = loaded.files.get(route_file_name(name, "key"))
    if cert is None or key is None:
        raise ApplyError(f"containers.{name}: the route's certificate or key was not read")
    pem = cert.data.rstrip(b"\n") + b"\n" + key.data.rstrip(b"\n") + b"\n"
    edge.put_cert(engine, found, backend, pem)


def retire(engine: Engine, stack: str, name: str, ident: str, grace_ns: int) -> None:
    """The container `ident` out of the proxy before it stops: drained (no new request; those it
    holds finish, for up to `grace_ns`), then deleted. A route left without servers is removed."""
    backend = backend_of(stack, name)
    with proxy_locked(engine) as found:
        entry = found.routes.get(backend)
        if entry is None or not any(s.name == ident[:12] for s in entry.servers):
            return
        if (backend, ident[:12]) in edge.live_servers(engine, found):
            edge.drain_server(engine, found, backend, ident[:12])
    edge.wait_drained(engine, found, backend, ident[:12], grace_ns / 10**9)
    with proxy_locked(engine) as found:
        if (backend, ident[:12]) in edge.live_servers(engine, found):
            edge.remove_server(engine, found, backend, ident[:12])
        routes = dict(found.routes)
        entry = routes.get(backend)
        if entry is None:
            return
        left = tuple(s for s in entry.servers if s.name != ident[:12])
        if left:
            routes[backend] = replace(entry, servers=left)
            edge.write_routes(engine, found, routes, reload=False)
        else:
            del routes[backend]
            edge.write_routes(engine, found, routes)


def retire_if_routed(engine: Engine, stack: str, name: str, ident: str, grace_ns: int) -> None:
    """retire(), for a container that may be on the edge network (a delete, a destroy)."""
    proxy = names.proxy_name()
    if stack == proxy:
        return  # the proxy's own container is on the edge network, and holds no route
    state = read_state(engine, ident)
    if state is None or names.edge_network(proxy) not in state.networks:
        return
    try:
        has_route = bool(json.loads(state.labels.get(names.LABEL_SPEC) or "{}").get("route"))
    except ValueError:
        has_route = False
    if has_route:  # its last-applied spec
        retire(engine, stack, name, ident, grace_ns)


def forget(engine: Engine, stack: str, name: str) -> None:
    """A route no longer declared: its entry removed, whatever servers it still lists."""
    backend = backend_of(stack, name)
    with proxy_locked(engine) as found:
        entry = found.routes.get(backend)
        if entry is None:
            return
        live = edge.live_servers(engine, found)
        for server in entry.servers:
            if (backend, server.name) in live:
                edge.remove_server(engine, found, backend, server.name)
        routes = {k: v for k, v in found.routes.items() if k != backend}
        edge.write_routes(engine, found, routes)


def routed(spec: ContainerSpec | None) -> bool:
    return spec is not None and spec.route is not None
