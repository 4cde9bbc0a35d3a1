"""Keys that mean something on one target only: an error on the other, naming the key.

On `target = "host"` the Swarm settings (replicas spread by a scheduler, placement, reservations,
the rolling-update tables, endpoint_mode, a port's mode) cannot be honoured; on
`target = "swarm"` some host settings cannot be (a `healthy` dependency: Swarm orders nothing by
health; an address to bind a port on; a file's reload signal: a changed config rolls the service).
A key both targets honour keeps its meaning.
"""

from __future__ import annotations

from collections.abc import Iterator

from hostform.declare.builds import registry_of
from hostform.declare.spec import HOST_SETTINGS, ContainerSpec, Stack

Loc = tuple[str | int, ...]

SWARM_ONLY = ("global_", "placement", "reservations", "rollback", "endpoint_mode")
SWARM_UPDATE_KEYS = ("parallelism", "delay", "failure_action", "monitor", "max_failure_ratio")
_SHOWN = {"global_": "global"}


def check_target(stack: Stack) -> Iterator[tuple[Loc, str]]:
    if stack.on_swarm:
        yield from _host_only(stack)
    else:
        yield from _swarm_only(stack)


def _services(stack: Stack) -> Iterator[tuple[str, str, ContainerSpec]]:
    for kind in ("containers", "jobs"):
        for name, spec in getattr(stack, kind).items():
            yield kind, name, spec


def _swarm_only(stack: Stack) -> Iterator[tuple[Loc, str]]:
    why = 'is a Swarm setting: it needs [stack] target = "swarm" (or --on swarm)'
    for kind, name, spec in _services(stack):
        for key in SWARM_ONLY:
            if key in spec.model_fields_set:
                shown = _SHOWN.get(key, key)
                yield (kind, name, shown), f"{shown!r} {why}"
        for key in SWARM_UPDATE_KEYS:
            if key in spec.update.model_fields_set:
                yield (kind, name, "update", key), f"'update.{key}' {why}"
        for i, port in enumerate(spec.ports):
            if port.mode is not None:
                yield (kind, name, "ports", i, "mode"), f"a port's 'mode' {why}"
        if kind == "jobs" and spec.route is not None:
            yield (kind, name, "route"), "a job runs once: it cannot serve a route (give it to a container)"
        if spec.update.order == "start-first" and any(p.host_port for p in spec.ports):
            yield (
                (kind, name),
                "update.order = 'start-first' needs a container without fixed host ports "
                "(two containers cannot publish the same host port at once)",
            )


def _host_only(stack: Stack) -> Iterator[tuple[Loc, str]]:
    on_swarm = 'on target = "swarm"'
    for kind, name, spec in _services(stack):
        for dep, condition in spec.depends_on.items():
            if condition == "healthy":
                yield (
                    (kind, name, "depends_on", dep),
                    f"condition 'healthy' cannot be honoured {on_swarm} (Swarm orders nothing by health; "
                    "use 'started': a service waits until its dependencies have converged)",
                )
        if spec.route is not None:
            yield (
                (kind, name, "route"),
                f"'route' cannot be honoured {on_swarm}: the edge proxy (`hostform proxy up`) serves one "
                "engine; on Swarm publish the service's port (the routing mesh) instead",
            )
        if spec.update.drain:
            yield ((kind, name, "update", "drain"), f"'update.drain' cannot be honoured {on_swarm}")
        if spec.adopt:
            yield (
                (kind, name, "adopt"),
                f"'adopt' cannot be honoured {on_swarm}: `hostform adopt` takes over containers on one host "
                '(target = "host") only',
            )
        if spec.build is not None and registry_of(spec.image) is None:
            yield (
                (kind, name, "image"),
                f"image {spec.image!r} is built {on_swarm}, so it goes through a registry every node can "
                'reach: set [stack] registry = "HOST:PORT", or name the registry in image ("HOST:PORT/repo")',
            )
        if "memory_reservation" in spec.model_fields_set:
            yield (
                (kind, name, "memory_reservation"),
                f"'memory_reservation' is a host setting; {on_swarm} use reservations = {{ memory = ... }}",
            )
        for key in HOST_SETTINGS:
            if key in spec.model_fields_set:
                yield (
                    (kind, name, key),
                    f"{key!r} cannot be honoured {on_swarm}: a host setting hostform sets on one engine's "
                    "containers only (Swarm services are created without it)",
                )
        if spec.global_ and "replicas" in spec.model_fields_set:
            yield (kind, name, "global"), "'global' runs one task per node: it cannot be given with 'replicas'"
        if kind == "jobs" and spec.global_:
            yield (kind, name, "global"), "a job runs once: 'global' is for containers"
        for i, port in enumerate(spec.ports):
            if port.host_ip:
                yield (
                    (kind, name, "ports", i),
                    f"a host address ({port.host_ip}) to bind a port on cannot be honoured {on_swarm}",
                )
    for name, file in stack.files.items():
        if file.reload_signal is not None:
            yield (
                ("files", name, "reload_signal"),
                f"'reload_signal' cannot be honoured {on_swarm}: a changed config rolls the services using it",
            )
    for name, net in stack.networks.items():
        if "driver" in net.model_fields_set and net.driver != "overlay" and not net.external:
            yield (
                ("networks", name, "driver"),
                f"driver {net.driver!r} cannot span nodes {on_swarm}: leave it out (overlay) or give 'overlay'",
            )
