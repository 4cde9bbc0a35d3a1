"""A declared container turned into the engine's create body (Engine API 1.41)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from hostform.declare import names
from hostform.declare.canonical import canonical_json, spec_hash
from hostform.declare.secrets import reveal
from hostform.declare.spec import ContainerSpec, Healthcheck, restart_policy

if TYPE_CHECKING:
    from hostform.declare.load import LoadedStack


def naming(loaded: LoadedStack) -> names.Naming:
    stack = loaded.stack
    routed = any(s.route is not None for s in stack.containers.values())
    return names.Naming(
        stack.name,
        frozenset(k for k, n in stack.networks.items() if n.external),
        frozenset(k for k, v in stack.volumes.items() if v.external),
        names.edge_network(names.proxy_name()) if routed else "",
    )


def create_body(
    naming: names.Naming,
    name: str,
    kind: str,
    spec: ContainerSpec,
    replica: int,
    canonical: dict[str, Any],
    image: str | None = None,
) -> dict[str, Any]:
    """`image`, when given, is what the engine runs instead of spec.image (a pushed image by digest)."""
    attachments = network_attachments(naming, name, spec)
    first_net, first_aliases = attachments[0] if attachments else (namespace(naming, spec.network_mode), [])
    labels = {
        **spec.labels,
        **names.owner_labels(naming.stack, name, kind),
        names.LABEL_REPLICA: str(replica),
        names.LABEL_SPEC: canonical_json(canonical),
        names.LABEL_SPEC_HASH: spec_hash(canonical),
    }
    config: dict[str, Any] = {
        "Image": image or spec.image,
        "Env": [f"{k}={reveal(v)}" for k, v in sorted(spec.env.items())],
        "Labels": labels,
        "ExposedPorts": {f"{p.container_port}/{p.protocol}": {} for p in spec.ports},
        "StopTimeout": spec.stop_grace_period // 10**9,
        "HostConfig": host_config(naming, spec, first_net),
        "NetworkingConfig": {"EndpointsConfig": {first_net: {"Aliases": first_aliases}} if attachments else {}},
    }
    if spec.command is not None:
        config["Cmd"] = list(spec.command)
    if spec.entrypoint is not None:
        config["Entrypoint"] = list(spec.entrypoint) or [""]
    for key, value in (
        ("User", spec.user),
        ("WorkingDir", spec.working_dir),
        ("Hostname", spec.hostname),
        ("StopSignal", spec.stop_signal),
        ("MacAddress", spec.mac_address),
    ):
        if value is not None:
            config[key] = value
    if spec.healthcheck is not None:
        config["Healthcheck"] = healthcheck_body(spec.healthcheck)
    return config


def host_config(naming: names.Naming, spec: ContainerSpec, network_mode: str) -> dict[str, Any]:
    bindings: dict[str, list[dict[str, str]]] = {}
    for p in spec.ports:
        bindings.setdefault(f"{p.container_port}/{p.protocol}", []).append(
            {"HostIp": p.host_ip, "HostPort": str(p.host_port or "")}
        )
    mounts = [
        {
            "Type": m.type,
            "Source": naming.volume(m.source) if m.type == "volume" else m.source,
            "Target": m.target,
            "ReadOnly": m.read_only,
        }
        for m in spec.volumes
    ]
    host: dict[str, Any] = {
        "NetworkMode": network_mode,
        "PortBindings": bindings,
        "Mounts": mounts,
        "RestartPolicy": restart_policy(spec.restart),
        "CapAdd": list(spec.cap_add) or None,
        "CapDrop": list(spec.cap_drop) or None,
        "ReadonlyRootfs": spec.read_only,
        "ExtraHosts": list(spec.extra_hosts) or None,
        "Tmpfs": dict(_tmpfs(t) for t in spec.tmpfs) or None,
    }
    host.update(resources(spec))
    host.update(host_settings(naming, spec))
    return host


def host_settings(naming: names.Naming, spec: ContainerSpec) -> dict[str, Any]:
    """The host settings (Compose's names) as HostConfig fields; at their defaults, the engine's own."""
    out: dict[str, Any] = {
        "Privileged": spec.privileged,
        "Devices": [_device(d) for d in spec.devices] or None,
        "Init": True if spec.init else None,
        "Ulimits": [{"Name": k, "Soft": u.soft, "Hard": u.hard} for k, u in sorted(spec.ulimits.items())] or None,
        "Sysctls": dict(spec.sysctls) or None,
        "SecurityOpt": list(spec.security_opt) or None,
        "GroupAdd": list(spec.group_add) or None,
        "Dns": list(spec.dns) or None,
        "DnsSearch": list(spec.dns_search) or None,
    }
    if spec.gpus is not None:
        out["DeviceRequests"] = [{"Driver": "", "Count": spec.gpus, "Capabilities": [["gpu"]]}]
    if spec.shm_size is not None:
        out["ShmSize"] = spec.shm_size
    if spec.logging is not None:
        out["LogConfig"] = {"Type": spec.logging.driver, "Config": dict(spec.logging.options)}
    if spec.ipc is not None:
        out["IpcMode"] = namespace(naming, spec.ipc)
    if spec.pid is not None:
        out["PidMode"] = namespace(naming, spec.pid)
    return out


def namespace(naming: names.Naming, mode: str | None) -> str:
    """A namespace setting as the engine reads it: service:NAME is the stack's container NAME."""
    kind, _, name = (mode or "").partition(":")
    return f"container:{names.container_name(naming.stack, name, 1, 1)}" if kind == "service" else str(mode)


def _device(entry: str) -> dict[str, str]:
    host, ctr, perms = entry.split(":")
    return {"PathOnHost": host, "PathInContainer": ctr, "CgroupPermissions": perms}


def resources(spec: ContainerSpec) -> dict[str, Any]:
    """The fields Docker's update API changes in place."""
    return {
        "Memory": spec.memory or 0,
        "MemoryReservation": spec.memory_reservation or 0,
        "NanoCpus": round((spec.cpus or 0) * 1e9),  # int() would turn 4.1 into 4.099999999
        "PidsLimit": spec.pids_limit or 0,
    }


def _tmpfs(entry: str) -> tuple[str, str]:
    path, _, opts = entry.partition(":")
    return path, opts


def declared_aliases(live: Sequence[str], hostname: str | None, want: Sequence[str]) -> tuple[str, ...]:
    """Live aliases less the one Docker 20.10 adds for a set hostname (kept when declared)."""
    return tuple(sorted(a for a in live if a != hostname or a in want))


def network_attachments(naming: names.Naming, name: str, spec: ContainerSpec) -> list[tuple[str, list[str]]]:
    """(engine network, aliases) for each network; every container is reachable by its name. A
    container with a route joins the edge proxy's network too, last and without aliases (it is
    shared by every stack: the proxy reaches it by address). None for a container with a
    network_mode: it lives in the host's or another container's namespace."""
    if spec.network_mode is not None:
        return []
    attachments = spec.networks or ()
    out = [(naming.network(a.name), sorted({name, *a.aliases})) for a in attachments]
    out = out or [(naming.network(names.DEFAULT_NETWORK), [name])]
    if spec.route is not None and naming.edge:
        out.append((naming.edge, []))
    return out


def healthcheck_body(hc: Healthcheck) -> dict[str, Any]:
    """The engine's HealthConfig, the same for a container and a Swarm service's container spec."""
    if hc.disable:
        return {"Test": ["NONE"]}
    return {
        "Test": list(hc.test),
        "Interval": hc.interval,
        "Timeout": hc.timeout,
        "Retries": hc.retries,
        "StartPeriod": hc.start_period,
    }
