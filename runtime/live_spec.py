"""A running container read back into the canonical spec's shape (for `hostform adopt`).

A container hostform did not create carries no last-applied spec. To take it over
without recreating it, its live `Config` and `HostConfig` are read back into the
stack file's form, validated by the same schema (so every spelling is normalised the
same way) and turned into the canonical spec by the same function as a declaration.
What the image contributes (its Cmd, Entrypoint, Env, Labels, WorkingDir, User,
Healthcheck, StopSignal) is left out unless the declaration says the same; so are the
labels tools write for themselves (`com.docker.compose.*`, `io.hostform.*`), Docker's
default hostname (the short ID) and the container's own ID alias. Where the result
equals the declaration, adopting changes nothing; where it differs, the planner's
field reasons say exactly what and how (in place or a replacement).

Pure: the engine's inspect dicts come in, a dict goes out (tests need no engine).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hostform.declare.canonical import canonical_of, file_digest
from hostform.declare.names import DEFAULT_NETWORK, TOOL_LABELS, Naming
from hostform.declare.secrets import Secret, is_secret_name
from hostform.declare.spec import ContainerSpec, Plain, plain_of

BOOKKEEPING = ("depends_on", "replicas", "update", "pull")  # hostform's own: taken from the declaration


def live_spec(
    info: Mapping[str, Any],
    image: Mapping[str, Any] | None,
    declared: ContainerSpec,
    name: str,
    naming: Naming,
    networks: Mapping[str, Any],
    key: bytes,
    files: list[dict[str, Any]] | None = None,
    joined: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The canonical spec of the container `info` (docker inspect), whose image's config is `image`.
    `joined`: the engine names of the containers whose namespaces it joins, by ID (the engine
    keeps `container:<ID>`; see `joined_ids`).

    `declared` is the resource `name` it is adopted as: which env values are secret (hashed
    under `key`), and what to keep where the live value is the image's own. `networks` are the
    stack's networks by key (to name them as the stack does); `files` the declared config files
    as found in the container (canonical entries, see `live_files`)."""
    from hostform.declare import schema  # the live container is read as a declaration is: validated

    raw = stack_form(info, image or {}, declared, name, naming, networks, joined or {})
    spec = plain_of(schema.ContainerSpec.model_validate(raw))
    return canonical_of(spec, key, False, files or [])


def live_files(
    declared_files: list[dict[str, Any]], found: Mapping[str, bytes | None], key: bytes
) -> list[dict[str, Any]]:
    """The declared config files' canonical entries as the container holds them: a file absent there
    is left out (a reason to copy it in, which needs a new container); its digest is the live content's."""
    out = []
    for entry in declared_files:
        data = found.get(entry["target"])
        if data is not None:
            out.append({**entry, "sha256": file_digest(data, key)})
    return out


def stack_form(
    info: Mapping[str, Any],
    image: Mapping[str, Any],
    declared: ContainerSpec,
    name: str,
    naming: Naming,
    networks: Mapping[str, Any],
    joined: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The container as a stack file's table would declare it (before validation)."""
    config = info.get("Config") or {}
    host = info.get("HostConfig") or {}
    ident = str(info.get("Id") or "")
    raw: dict[str, Any] = {"image": str(config.get("Image") or declared.image)}
    raw["command"] = _own(config.get("Cmd"), image.get("Cmd"), declared.command)
    raw["entrypoint"] = _own(config.get("Entrypoint"), image.get("Entrypoint"), declared.entrypoint)
    raw["user"] = _own(config.get("User") or None, image.get("User") or None, declared.user)
    raw["working_dir"] = _own(config.get("WorkingDir") or None, image.get("WorkingDir") or None, declared.working_dir)
    raw["stop_signal"] = _own(config.get("StopSignal") or None, image.get("StopSignal") or None, declared.stop_signal)
    hostname = config.get("Hostname") or None
    raw["hostname"] = None if hostname == ident[:12] and declared.hostname != hostname else hostname
    raw["env"] = _env(config.get("Env") or [], image.get("Env") or [], declared)
    raw["labels"] = _labels(config.get("Labels") or {}, image.get("Labels") or {}, declared)
    raw["healthcheck"] = _healthcheck(config.get("Healthcheck"), image.get("Healthcheck"), declared)
    if config.get("StopTimeout") is not None:
        raw["stop_grace_period"] = int(config["StopTimeout"])  # seconds, as the schema reads a number
    raw["ports"] = _ports(host.get("PortBindings") or {})
    raw["volumes"] = _mounts(info.get("Mounts") or [], image.get("Volumes") or {}, naming, declared)
    raw["tmpfs"] = [f"{path}:{opts}" if opts else path for path, opts in sorted((host.get("Tmpfs") or {}).items())]
    raw["networks"] = _networks(info, name, naming, networks)
    raw["restart"] = _restart(host.get("RestartPolicy") or {})
    for field, engine_key in (("memory", "Memory"), ("memory_reservation", "MemoryReservation")):
        if host.get(engine_key):
            raw[field] = int(host[engine_key])
    if host.get("NanoCpus"):
        raw["cpus"] = host["NanoCpus"] / 1e9
    if (host.get("PidsLimit") or 0) > 0:
        raw["pids_limit"] = int(host["PidsLimit"])
    raw["cap_add"] = list(host.get("CapAdd") or [])
    raw["cap_drop"] = list(host.get("CapDrop") or [])
    raw["read_only"] = bool(host.get("ReadonlyRootfs"))
    raw["extra_hosts"] = list(host.get("ExtraHosts") or [])
    raw.update(host_settings(info, declared, naming, joined or {}))
    mode = raw.get("network_mode")
    if mode is not None:  # in another namespace: no networks (nor ports, nor names) of its own
        gone = ["networks"] if mode == "bridge" else ["networks", "ports", "mac_address"]
        if mode.startswith(("container:", "service:")):
            gone += ["hostname", "extra_hosts", "dns", "dns_search"]
        elif mode == "host" and declared.hostname is None:
            gone.append("hostname")  # the host's own name
        for key in gone:
            raw.pop(key, None)
    for field in BOOKKEEPING:
        value = getattr(declared, field)
        if isinstance(value, Plain):  # `update`: the fields the declaration set, as a stack file sets them
            value = {k: getattr(value, k) for k in value.model_fields_set}
        raw[field] = value
    return {k: v for k, v in raw.items() if v is not None}


ENGINE_SHM = 64 * 1024 * 1024  # the engine's /dev/shm when none is given
DEFAULT_NAMESPACES = {"IpcMode": ("private", "shareable", ""), "PidMode": ("",), "NetworkMode": ("default", "")}


def joined_ids(info: Mapping[str, Any]) -> list[str]:
    """The IDs of the containers whose network, IPC or PID namespace the container joins."""
    host = info.get("HostConfig") or {}
    modes = (str(host.get(k) or "") for k in ("NetworkMode", "IpcMode", "PidMode"))
    return sorted({m.partition(":")[2] for m in modes if m.startswith("container:")})


def host_settings(
    info: Mapping[str, Any], declared: ContainerSpec, naming: Naming, joined: Mapping[str, str]
) -> dict[str, Any]:
    """The host settings (privileged, devices, ulimits...) in the stack file's form; the engine's
    defaults (a 64m /dev/shm, its log driver, a private IPC namespace) as not declared, unless the
    declaration says the same."""
    host = info.get("HostConfig") or {}
    raw: dict[str, Any] = {
        "privileged": bool(host.get("Privileged")),
        "init": bool(host.get("Init")),
        "devices": [
            f"{d['PathOnHost']}:{d['PathInContainer']}:{d['CgroupPermissions']}" for d in host.get("Devices") or []
        ],
        "ulimits": {u["Name"]: {"soft": u["Soft"], "hard": u["Hard"]} for u in host.get("Ulimits") or []},
        "sysctls": dict(host.get("Sysctls") or {}),
        "security_opt": [
            o
            for o in host.get("SecurityOpt") or []
            if not (o == "label=disable" and _engine_unlabelled(host) and o not in declared.security_opt)
        ],
        "group_add": list(host.get("GroupAdd") or []),
        "dns": list(host.get("Dns") or []),
        "dns_search": list(host.get("DnsSearch") or []),
        "platform": declared.platform,  # the engine keeps only the OS ("linux"): the declaration's word stands
    }
    gpus = [r for r in host.get("DeviceRequests") or [] if ["gpu"] in (r.get("Capabilities") or [])]
    if gpus:
        raw["gpus"] = int(gpus[0].get("Count") or 0) or None
    shm = host.get("ShmSize")
    if shm and (shm != ENGINE_SHM or declared.shm_size == shm):
        raw["shm_size"] = int(shm)
    log = host.get("LogConfig") or {}
    if log.get("Type") and (declared.logging is not None or log.get("Config") or log.get("Type") != "json-file"):
        raw["logging"] = {"driver": log["Type"], "options": dict(log.get("Config") or {})}
    mac = (info.get("Config") or {}).get("MacAddress")
    if mac and declared.mac_address is not None:  # the engine makes one up for every container
        raw["mac_address"] = mac
    for field, engine_key in (("ipc", "IpcMode"), ("pid", "PidMode"), ("network_mode", "NetworkMode")):
        live = str(host.get(engine_key) or "")
        kind, _, ident = live.partition(":")
        if kind == "container" and ident in joined:
            live = f"container:{joined[ident]}"
        raw[field] = _namespace_mode(live, getattr(declared, field), engine_key, naming)
    return raw


def _engine_unlabelled(host: Mapping[str, Any]) -> bool:
    """The engine adds label=disable itself to a privileged container and to one in the host's PID
    or IPC namespace."""
    return bool(host.get("Privileged")) or "host" in (host.get("PidMode"), host.get("IpcMode"))


def _namespace_mode(live: Any, declared: str | None, engine_key: str, naming: Naming) -> str | None:
    from hostform.runtime.container_config import namespace

    text = str(live or "")
    if declared is not None and namespace(naming, declared) == text:
        return declared  # service:NAME reads back as the engine's container:<stack>-NAME
    if text in DEFAULT_NAMESPACES[engine_key]:
        return None
    if engine_key == "NetworkMode" and text not in ("host", "none", "bridge") and not text.startswith("container:"):
        return None  # a user-defined network: the container's `networks`
    return text


def _own(live: Any, from_image: Any, declared: Any) -> Any:
    """The live value, or None (not declared) where it is the image's own, unless the declaration
    says the same thing (then it was declared, and is equal)."""
    if live == from_image:
        same = declared is not None and _as_list(declared) == _as_list(live)
        return live if same else None
    return live


def _as_list(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value


def _env(live: list[str], from_image: list[str], declared: ContainerSpec) -> dict[str, Any]:
    image_env = set(from_image)
    out: dict[str, Any] = {}
    for entry in live:
        k, _, v = str(entry).partition("=")
        if entry in image_env and k not in declared.env:
            continue  # the image's PATH and the like
        out[k] = v if _plain(k, v, declared.env) else Secret(v)
    return out


def _plain(key: str, value: str, declared: Mapping[str, Any]) -> bool:
    """Whether a live env value may be kept (and so shown in a plan) as it is. It is hashed under
    the stack key instead, like a secret, when the declaration marks it secret, when the
    declaration does not have it (a value nobody declared, e.g. a password set by hand, must not
    reach a plan or the record), and when its name says it is secret and it differs from the
    declared value. A declared plain value that the container holds as it is stays as it is."""
    wanted = declared.get(key)
    if isinstance(wanted, Secret) or key not in declared:
        return False
    return wanted == value or not is_secret_name(key)


def _labels(live: Mapping[str, str], from_image: Mapping[str, str], declared: ContainerSpec) -> dict[str, str]:
    return {
        k: v
        for k, v in live.items()
        if not k.startswith(TOOL_LABELS) and (from_image.get(k) != v or k in declared.labels)
    }


def _healthcheck(live: Any, from_image: Any, declared: ContainerSpec) -> dict[str, Any] | None:
    if not live or (live == from_image and declared.healthcheck is None):
        return None
    test = list(live.get("Test") or [])
    if test == ["NONE"]:
        return {"disable": True}
    out: dict[str, Any] = {"test": test}
    # an engine default is 0 (or absent) in the container's config: the schema's defaults are Docker's
    for field, engine_key in (
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start_period", "StartPeriod"),
        ("retries", "Retries"),
    ):
        if live.get(engine_key):
            out[field] = int(live[engine_key]) if field == "retries" else f"{int(live[engine_key])}ns"
    return out


def _ports(bindings: Mapping[str, Any]) -> list[dict[str, Any]]:
    out = []
    for port, bound in sorted(bindings.items()):
        number, _, proto = port.partition("/")
        for b in bound or [{}]:
            published = str(b.get("HostPort") or "")
            out.append(
                {
                    "target": int(number),
                    "published": int(published) if published.isdigit() else None,
                    "host_ip": str(b.get("HostIp") or ""),
                    "protocol": proto or "tcp",
                }
            )
    return out


def _mounts(
    mounts: list[dict[str, Any]], image_volumes: Mapping[str, Any], naming: Naming, declared: ContainerSpec
) -> list[dict[str, Any]]:
    keys = {naming.volume(m.source): m.source for m in declared.volumes if m.type == "volume"}
    out: list[dict[str, Any]] = []
    for m in mounts:
        kind, target = m.get("Type"), str(m.get("Destination") or "")
        if kind == "volume":
            engine_name = str(m.get("Name") or "")
            if target in image_volumes and engine_name not in keys:
                continue  # an anonymous volume the image's VOLUME made
            out.append({"type": "volume", "source": keys.get(engine_name, engine_name), "target": target})
        elif kind == "bind":
            out.append({"type": "bind", "source": str(m.get("Source") or ""), "target": target})
        else:
            continue  # tmpfs is read from HostConfig.Tmpfs
        out[-1]["read_only"] = not m.get("RW", True)
    return out


def _networks(
    info: Mapping[str, Any], name: str, naming: Naming, networks: Mapping[str, Any]
) -> dict[str, dict[str, list[str]]] | None:
    """Attachments by the stack's keys, with the aliases a declaration would write: less the service's
    name (every container gets it), the short ID and the hostname the engine adds. None: the stack's
    default network alone, which is what no `networks` key means."""
    by_engine = {naming.network(k): k for k in networks}
    attached = ((info.get("NetworkSettings") or {}).get("Networks")) or {}
    ident = str(info.get("Id") or "")
    hostname = ((info.get("Config") or {}).get("Hostname")) or ""
    out = {}
    for engine_name, endpoint in sorted(attached.items()):
        aliases = sorted({a for a in endpoint.get("Aliases") or [] if a not in (name, ident[:12], hostname)})
        out[by_engine.get(engine_name, engine_name)] = {"aliases": aliases}
    return None if out == {DEFAULT_NETWORK: {"aliases": []}} else out


def _restart(policy: Mapping[str, Any]) -> str:
    name = str(policy.get("Name") or "no")
    count = int(policy.get("MaximumRetryCount") or 0)
    return f"on-failure:{count}" if name == "on-failure" and count else name


__all__ = ["BOOKKEEPING", "joined_ids", "live_files", "live_spec", "stack_form"]
