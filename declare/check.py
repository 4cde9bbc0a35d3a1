"""Cross-reference checks on a validated stack: names, references, cycles, port clashes."""

from __future__ import annotations

from collections.abc import Iterator

from hostform.declare.names import container_name
from hostform.declare.spec import NAME_HELP, NAME_RE, PortMapping, Stack
from hostform.declare.targets import check_target

Loc = tuple[str | int, ...]
DEFAULT_NETWORK = "default"
RESERVED_LABEL_PREFIX = "io.hostform."


def check_references(stack: Stack) -> list[tuple[Loc, str]]:
    return [
        *_names(stack),
        *_engine_name_clashes(stack),
        *_reserved_labels(stack),
        *_dependencies(stack),
        *_namespace_services(stack),
        *_mounts_and_networks(stack),
        *_cycles(stack),
        *(() if stack.on_swarm else _port_clashes(stack)),  # Swarm places host-mode ports itself
        *_files_into_read_only(stack),
        *check_target(stack),
    ]


def _files_into_read_only(stack: Stack) -> Iterator[tuple[Loc, str]]:
    """Files are copied in before start: a tmpfs (mounted at start) would hide them, and a
    read-only root filesystem refuses them unless they land in a volume."""
    for kind in ("containers", "jobs"):
        for name, spec in getattr(stack, kind).items():
            volumes = [m.target for m in spec.volumes if m.type == "volume"]
            copied = [("files", i, fm) for i, fm in enumerate(spec.files)]
            if not stack.on_swarm:  # Swarm mounts secrets itself
                copied += [("secrets", i, sm) for i, sm in enumerate(spec.secrets)]
            for key, i, fm in copied:
                loc: Loc = (kind, name, key, i, "target")
                if any(_under(fm.target, t.partition(":")[0]) for t in spec.tmpfs):
                    yield loc, f"{fm.target!r} would be hidden by a tmpfs mounted over it when the container starts"
                elif spec.read_only and not any(_under(fm.target, v) for v in volumes):
                    yield (
                        loc,
                        (
                            f"{fm.target!r} cannot be copied into a read_only container "
                            "(put it under a named volume mount, or drop read_only)"
                        ),
                    )


def _under(path: str, mount: str) -> bool:
    return path == mount or path.startswith(mount.rstrip("/") + "/")


def _names(stack: Stack) -> Iterator[tuple[Loc, str]]:
    for kind in ("containers", "jobs", "networks", "volumes", "files"):
        for name in getattr(stack, kind):
            if not NAME_RE.fullmatch(name):
                yield (kind, name), f"{name!r} is not a valid name ({NAME_HELP})"
    for name in set(stack.containers) & set(stack.jobs):
        yield ("jobs", name), f"{name!r} is declared both as a container and as a job"


def _engine_names(stack: str, name: str, replicas: int) -> dict[str, str]:
    """Every engine name a container or job may go by, with which one it is (for messages): each
    replica's, and `<stack>-<name>`, the name replica 1 keeps when replicas grow."""
    out = {
        container_name(stack, name, i, replicas): (f" (replica {i})" if replicas > 1 else "")
        for i in range(1, replicas + 1)
    }
    if replicas > 1:
        out[container_name(stack, name, 1, 1)] = " (replica 1 keeps this name when replicas grow)"
    return out


def _engine_name_clashes(stack: Stack) -> Iterator[tuple[Loc, str]]:
    """`[containers.w] replicas = 2` runs as <stack>-w-1 and <stack>-w-2: `[containers.w-2]` would
    take the second name. Reported on the later of the two, naming both."""
    owners: dict[str, list[tuple[str, str, str]]] = {}  # engine name -> (kind, name, which), in order
    for kind in ("containers", "jobs"):
        for name, spec in getattr(stack, kind).items():
            mine = _engine_names(stack.name, name, spec.replicas)
            for engine_name in sorted(mine):
                for other_kind, other, theirs in owners.get(engine_name, []):
                    if other == name:
                        continue  # declared both as a container and a job: reported by _names
                    yield (
                        (kind, name),
                        (
                            f"engine name {engine_name!r} would be used by {kind}.{name}{mine[engine_name]} "
                            f"and by {other_kind}.{other}{theirs}; rename one of them"
                        ),
                    )
            for engine_name, which in mine.items():
                owners.setdefault(engine_name, []).append((kind, name, which))


def _reserved_labels(stack: Stack) -> Iterator[tuple[Loc, str]]:
    for kind in ("containers", "jobs", "networks", "volumes"):
        for name, spec in getattr(stack, kind).items():
            for key in sorted(spec.labels):
                if key.startswith(RESERVED_LABEL_PREFIX):
                    yield (
                        (kind, name, "labels", key),
                        f"label {key!r}: labels under {RESERVED_LABEL_PREFIX} are hostform's own",
                    )


def _dependencies(stack: Stack) -> Iterator[tuple[Loc, str]]:
    services = stack.services()
    for kind in ("containers", "jobs"):
        for name, spec in getattr(stack, kind).items():
            for dep, condition in spec.depends_on.items():
                loc: Loc = (kind, name, "depends_on", dep)
                if dep == name:
                    yield loc, f"{name!r} cannot depend on itself"
                elif dep not in services:
                    yield loc, f"depends on {dep!r}, which is not a declared container or job"
                elif condition == "completed" and dep not in stack.jobs:
                    yield (
                        loc,
                        (f"condition 'completed' needs a job, and {dep!r} is a container (use 'started' or 'healthy')"),
                    )
                elif condition == "healthy" and _no_healthcheck(stack, dep):
                    yield loc, f"condition 'healthy' needs a healthcheck on {dep!r}"


def _namespace_services(stack: Stack) -> Iterator[tuple[Loc, str]]:
    """network_mode / ipc / pid = "service:NAME": a container of this stack (one replica), started first."""
    for kind in ("containers", "jobs"):
        for name, spec in getattr(stack, kind).items():
            for key in ("network_mode", "ipc", "pid"):
                mode, _, other = (getattr(spec, key) or "").partition(":")
                if mode != "service":
                    continue
                loc: Loc = (kind, name, key)
                if other not in stack.containers or other == name:
                    yield loc, f"{key} names service {other!r}, which is not another declared container"
                elif stack.containers[other].replicas != 1:
                    yield (
                        loc,
                        f"{key} names service {other!r}, which has {stack.containers[other].replicas} replicas "
                        "(one is needed)",
                    )
                elif other not in spec.depends_on:
                    yield loc, f'{key} joins {other!r}: add depends_on = {{ {other} = "started" }} so it starts first'


def _no_healthcheck(stack: Stack, name: str) -> bool:
    hc = stack.services()[name].healthcheck
    return hc is not None and hc.disable


def _mounts_and_networks(stack: Stack) -> Iterator[tuple[Loc, str]]:
    for kind in ("containers", "jobs"):
        for name, spec in getattr(stack, kind).items():
            for i, mount in enumerate(spec.volumes):
                if mount.type == "volume" and mount.source not in stack.volumes:
                    yield (
                        (kind, name, "volumes", i),
                        (f"volume {mount.source!r} is not declared (add [volumes.{mount.source}])"),
                    )
            for att in spec.networks:
                if att.name not in stack.networks and att.name != DEFAULT_NETWORK:
                    yield (
                        (kind, name, "networks", att.name),
                        (f"network {att.name!r} is not declared (add [networks.{att.name}])"),
                    )
            for i, fm in enumerate(spec.files):
                if fm.source not in stack.files:
                    yield (
                        (kind, name, "files", i, "source"),
                        (f"file {fm.source!r} is not declared (add [files.{fm.source}])"),
                    )
            targets = [m.target for m in spec.volumes] + [f.target for f in spec.files]
            targets += [s.target for s in spec.secrets]
            for target in sorted({t for t in targets if targets.count(t) > 1}):
                yield (kind, name), f"two mounts or files share the target {target!r}"


def _cycles(stack: Stack) -> Iterator[tuple[Loc, str]]:
    services = stack.services()
    graph = {n: [d for d in s.depends_on if d in services and d != n] for n, s in services.items()}
    seen: set[str] = set()
    reported: set[frozenset[str]] = set()

    def visit(node: str, path: list[str]) -> Iterator[list[str]]:
        if node in path:
            yield [*path[path.index(node) :], node]
            return
        if node in seen:
            return
        for dep in graph[node]:
            yield from visit(dep, [*path, node])
        seen.add(node)

    for start in sorted(graph):
        for cycle in visit(start, []):
            members = frozenset(cycle)
            if members not in reported:
                reported.add(members)
                kind = "jobs" if cycle[0] in stack.jobs else "containers"
                yield (kind, cycle[0], "depends_on"), "dependency cycle: " + " -> ".join(cycle)


def _port_clashes(stack: Stack) -> Iterator[tuple[Loc, str]]:
    taken: dict[tuple[str, int, str], tuple[str, str, int]] = {}  # -> (kind, name, index) of the first
    for kind in ("containers", "jobs"):
        for name, spec in getattr(stack, kind).items():
            for i, port in enumerate(spec.ports):
                if port.host_port is None:
                    continue
                loc: Loc = (kind, name, "ports", i)
                if spec.replicas > 1:
                    yield loc, f"{spec.replicas} replicas cannot all publish host port {port.host_port}"
                ip = port.host_ip or "0.0.0.0"
                owners = (o for key, o in taken.items() if _clash(key, ip, port))
                owner = next(owners, None)
                published = f"host port {port.host_port}/{port.protocol}"
                if owner and owner[:2] == (kind, name):
                    yield loc, f"{published} is published twice by {name!r} (also by ports[{owner[2]}])"
                elif owner:
                    yield loc, f"{published} is already published by {owner[1]!r}"
                taken.setdefault((ip, port.host_port, port.protocol), (kind, name, i))


_ANY_IP = ("0.0.0.0", "::")


def _clash(taken: tuple[str, int, str], ip: str, port: PortMapping) -> bool:
    """Same port and protocol on the same address, or either side listens on every address."""
    taken_ip, taken_port, taken_proto = taken
    same_ip = ip == taken_ip or ip in _ANY_IP or taken_ip in _ANY_IP
    return same_ip and taken_port == port.host_port and taken_proto == port.protocol
