"""The stack format: pydantic models of what a user writes, in canonical form.

Every spelling a user may choose (short or table form of a port, a volume, a
network; '90s' or '1m30s') is normalised here into one canonical value, so two
spellings of the same thing compare equal when plans/ diffs them later.
"""

from __future__ import annotations

import ipaddress
import re
import shlex
import typing
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from hostform.declare.secrets import Secret
from hostform.declare.spec import NAME_HELP as NAME_HELP
from hostform.declare.spec import NAME_RE as NAME_RE
from hostform.declare.spec import PortMappingMethods, StackMethods
from hostform.declare.spec import restart_policy as restart_policy
from hostform.declare.units import parse_duration, parse_size

MIN_MEMORY = 6 * 1024 * 1024  # the engine refuses a smaller memory limit
MAX_CPUS = 1024.0  # far above any host; keeps cpus * 1e9 (the engine's NanoCpus) an int64

Duration = Annotated[int, BeforeValidator(parse_duration, json_schema_input_type=str | int | float)]
Size = Annotated[int, BeforeValidator(parse_size, json_schema_input_type=str | int)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, defer_build=True)


def suggest(word: str, choices: Any) -> str:
    """What to write instead of an unknown key: Compose's names first, then the nearest key."""
    import difflib

    from hostform.declare.compose_hints import compose_hint

    hint = compose_hint(word, list(choices))
    if hint:
        return f"; {hint}"
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def _table(model: type[Model], value: Any, what: str) -> Model:
    """Validate a nested table inside a before-validator, with a one-line message."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            hint = suggest(key, model.model_fields)
            raise ValueError(f"unknown key {key!r} in {what}{hint}") from None
        if err["type"] == "missing":
            raise ValueError(f"{what} needs {key!r}") from None
        where = f"{what}: {key}" if key else what
        raise ValueError(f"{where}: {err['msg']}") from None


# ---------------------------------------------------------------- ports

_PORT_RE = re.compile(
    r"^(?:(?:(?P<ip>\[[0-9a-fA-F:.]+\]|[0-9.]+):)?(?P<host>\d+)?:)?(?P<ctr>\d+)(?:/(?P<proto>tcp|udp|sctp))?$"
)
PORT_HELP = "expected [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO]"


class PortTable(Model):
    """The long form of a port, as in Compose."""

    target: int
    published: int | str | None = None
    host_ip: str = ""
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"
    mode: Literal["ingress", "host"] | None = None  # Swarm only


class PortMapping(PortMappingMethods, Model):
    container_port: int = Field(ge=1, le=65535)
    host_port: int | None = Field(default=None, ge=1, le=65535)  # None: the engine picks one
    host_ip: str = ""
    protocol: Literal["tcp", "udp", "sctp"] = "tcp"
    mode: Literal["ingress", "host"] | None = None  # Swarm only: None is the routing mesh (ingress)


def _port(value: Any) -> Any:
    if isinstance(value, PortMapping):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a port mapping ({PORT_HELP})")
    if isinstance(value, int):
        return {"container_port": value}
    if isinstance(value, str):
        match = _PORT_RE.match(value.strip())
        if not match:
            raise ValueError(f"{value!r} is not a port mapping ({PORT_HELP})")
        ip = (match.group("ip") or "").strip("[]")
        if ip:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise ValueError(f"{value!r} is not a port mapping ({PORT_HELP})") from None
        host = match.group("host")
        return {
            "container_port": int(match.group("ctr")),
            "host_port": int(host) if host else None,
            "host_ip": ip,
            "protocol": match.group("proto") or "tcp",
        }
    if isinstance(value, dict):
        table: Any = _table(PortTable, value, "a port table")
        published = table.published if table.published not in (None, "") else None
        if isinstance(published, str):
            if not published.isdigit():
                raise ValueError(f"published port {published!r} is not a port number")
            published = int(published)
        return {
            "container_port": table.target,
            "host_port": published,
            "host_ip": table.host_ip,
            "protocol": table.protocol,
            "mode": table.mode,
        }
    raise ValueError(f"{value!r} is not a port mapping ({PORT_HELP})")


Port = Annotated[PortMapping, BeforeValidator(_port, json_schema_input_type=str | int | PortTable)]


# ---------------------------------------------------------------- mounts

MOUNT_HELP = "expected VOLUME:/PATH[:ro], ./HOST_PATH:/PATH[:ro] or a table"


class MountTable(Model):
    type: Literal["volume", "bind"] = "volume"
    source: str
    target: str
    read_only: bool = False


class Mount(Model):
    type: Literal["volume", "bind"]
    source: str  # a volume's key in [volumes], or an absolute host path
    target: str
    read_only: bool = False

    @field_validator("target")
    @classmethod
    def _absolute_target(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"mount target {value!r} must be an absolute path")
        return value.rstrip("/") or "/"


def _is_host_path(source: str) -> bool:
    return source.startswith(("/", "./", "../", "~")) or source in (".", "..")


def _mount(value: Any, info: ValidationInfo) -> Any:
    if isinstance(value, Mount):
        return value
    if isinstance(value, str):
        parts = value.split(":")
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise ValueError(f"{value!r} is not a mount ({MOUNT_HELP})")
        mode = parts[2] if len(parts) == 3 else "rw"
        if mode not in ("ro", "rw"):
            raise ValueError(f"{value!r}: mount mode must be 'ro' or 'rw', not {mode!r}")
        kind = "bind" if _is_host_path(parts[0]) else "volume"
        value = {"type": kind, "source": parts[0], "target": parts[1], "read_only": mode == "ro"}
    elif isinstance(value, dict):
        value = _table(MountTable, value, "a mount table").model_dump()
    else:
        raise ValueError(f"{value!r} is not a mount ({MOUNT_HELP})")
    if value["type"] == "bind":
        value["source"] = _resolve_host_path(value["source"], info)
    return value


def _resolve_host_path(source: str, info: ValidationInfo) -> str:
    import os.path

    from hostform.declare.access import PathRefused, check_shape

    base = (info.context or {}).get("base_dir", ".")
    try:
        check_shape(source, source)
        path = os.path.abspath(os.path.join(base, os.path.expanduser(source)))  # the engine needs it absolute
        check_shape(source, path)
    except PathRefused as exc:
        raise ValueError(str(exc)) from None
    return path


MountSpec = Annotated[Mount, BeforeValidator(_mount, json_schema_input_type=str | MountTable)]


# ---------------------------------------------------------------- networks


class NetworkAttachment(Model):
    name: str
    aliases: tuple[str, ...] = ()


class NetworkAttachmentTable(Model):
    aliases: list[str] = []


def _attachments(value: Any) -> Any:
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise ValueError("networks must be a list of network names or a table")
        return [{"name": v} for v in sorted(set(value))]
    if isinstance(value, dict):
        out = []
        for name in sorted(value):
            table: Any = _table(NetworkAttachmentTable, value[name] or {}, f"network {name!r}")
            out.append({"name": name, "aliases": tuple(sorted(set(table.aliases)))})
        return out
    return value


Attachments = Annotated[
    tuple[NetworkAttachment, ...],
    BeforeValidator(
        _attachments,
        json_schema_input_type=list[str] | dict[str, NetworkAttachmentTable | None],
    ),
]


# ---------------------------------------------------------------- small parts


def _health_test(value: Any) -> Any:
    if isinstance(value, str):
        return ("CMD-SHELL", value)
    if isinstance(value, list) and value and value[0] not in ("CMD", "CMD-SHELL", "NONE"):
        return ("CMD", *value)
    return value


HealthTest = Annotated[tuple[str, ...], BeforeValidator(_health_test, json_schema_input_type=str | list[str])]


class Healthcheck(Model):
    test: HealthTest = ()
    interval: Duration = 30 * 10**9
    timeout: Duration = 30 * 10**9
    retries: int = Field(default=3, ge=1)
    start_period: Duration = 0
    disable: bool = False

    @model_validator(mode="after")
    def _needs_test(self) -> Healthcheck:
        if not self.disable and not self.test:
            raise ValueError("a healthcheck needs 'test' (or 'disable = true')")
        return self


def _octal(value: Any) -> Any:
    mode = value
    if isinstance(value, str):
        try:
            mode = int(value, 8)
        except ValueError:
            raise ValueError(f"mode {value!r} is not an octal file mode like '0644'") from None
    if isinstance(mode, int) and not isinstance(mode, bool) and not 0 <= mode <= 0o7777:
        raise ValueError(f"mode {value!r} is not a file mode (0 to 0o7777)")
    return mode


class FileMount(Model):
    source: str
    target: str
    mode: Annotated[int, BeforeValidator(_octal, json_schema_input_type=int | str)] = 0o644

    @field_validator("target")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return _file_target(value)


def _file_target(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError(f"file target {value!r} must be an absolute path")
    if value.endswith("/") or value.rstrip("/").endswith(("/.", "/..")) or "\x00" in value:
        raise ValueError(f"file target {value!r} must name a file, not a folder (e.g. /etc/app/app.conf)")
    return value


SECRET_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _secret_short(value: Any) -> Any:
    return {"source": value} if isinstance(value, str) else value


class SecretMount(Model):
    """A secret copied into the container as a file: `source` is a secret's name, read where
    `secret('NAME')` reads it ($NAME, or the file $NAME_FILE names). On one host a file copy, on
    Swarm a Swarm secret; its value never reaches a plan, a label or a record (keyed digests only)."""

    source: str
    target: str  # default: /run/secrets/<source>, as Docker does
    mode: Annotated[int, BeforeValidator(_octal, json_schema_input_type=int | str)] = 0o444

    @field_validator("source")
    @classmethod
    def _name(cls, value: str) -> str:
        if not SECRET_NAME_RE.fullmatch(value):
            raise ValueError(
                f"secret source {value!r} is not a secret's name: the name of an environment variable "
                "(letters, digits and '_'), as in secret('DB_PASSWORD')"
            )
        return value

    @model_validator(mode="before")
    @classmethod
    def _default_target(cls, value: Any) -> Any:
        if isinstance(value, dict) and "target" not in value and isinstance(value.get("source"), str):
            return {**value, "target": f"/run/secrets/{value['source']}"}
        return value

    @field_validator("target")
    @classmethod
    def _absolute(cls, value: str) -> str:
        return _file_target(value)


SecretMounts = Annotated[
    tuple[SecretMount, ...],
    BeforeValidator(
        lambda v: [_secret_short(x) for x in v] if isinstance(v, list) else v,
        json_schema_input_type=list[str | dict[str, Any]],
    ),
]


class BuildTable(Model):
    """How an image is built: Compose's `build`, as a folder or a table."""

    context: str = "."
    dockerfile: str = "Dockerfile"
    args: dict[str, str] = {}
    target: str | None = None
    network: str | None = None  # RUN steps' network, as Compose's build.network ("none": offline)

    @field_validator("args", mode="before")
    @classmethod
    def _text_args(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        return value


def _build(value: Any) -> Any:
    if isinstance(value, str):
        return {"context": value}
    return value


BuildSpec = Annotated[BuildTable, BeforeValidator(_build, json_schema_input_type=str | BuildTable)]
IMAGE_TAG_RE = re.compile(r":[A-Za-z0-9_][A-Za-z0-9_.-]*$")


class UpdatePolicy(Model):
    """How replicas are replaced. On one host only `order` applies; the rest is Swarm's rolling
    update (the defaults are Swarm's, except failure_action: a failed update rolls back)."""

    order: Literal["stop-first", "start-first"] = "stop-first"
    parallelism: int = Field(default=1, ge=0)
    delay: Duration = 0
    failure_action: Literal["rollback", "pause", "continue"] = "rollback"
    monitor: Duration = 5 * 10**9
    max_failure_ratio: float = Field(default=0.0, ge=0, le=1)
    # one host, start-first without a route: how long both containers answer the service's name
    # before the old one leaves its networks (a grace for clients holding its address)
    drain: Duration = 0


HOST_RE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*")
ROUTE_PATH_RE = re.compile(r"/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*")


class RouteTLS(Model):
    """A route's certificate and key: files in the stack's folder, or secrets (PEM), one of each pair."""

    cert: str | None = None
    key: str | None = None
    cert_secret: str | None = None
    key_secret: str | None = None

    @field_validator("cert_secret", "key_secret")
    @classmethod
    def _secret_name(cls, value: str | None) -> str | None:
        if value is not None and not SECRET_NAME_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not a secret's name (letters, digits and '_', as in secret('NAME'))")
        return value

    @model_validator(mode="after")
    def _one_of_each(self) -> RouteTLS:
        for what in ("cert", "key"):
            given = [k for k in (what, f"{what}_secret") if getattr(self, k) is not None]
            if len(given) != 1:
                raise ValueError(f"tls needs exactly one of {what!r} (a file) or '{what}_secret' (a secret's name)")
        return self


class Route(Model):
    """Served through the engine's edge proxy (`hostform proxy up`): requests for `host` (and
    paths under `path`) go to this container's `port`."""

    host: str
    port: int = Field(ge=1, le=65535)
    path: str = "/"
    tls: RouteTLS | None = None

    @field_validator("host")
    @classmethod
    def _hostname(cls, value: str) -> str:
        value = value.lower()
        if len(value) > 253 or not HOST_RE.fullmatch(value):
            raise ValueError(f"route host {value!r} is not a host name (letters, digits, '-' and '.')")
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not ROUTE_PATH_RE.fullmatch(value):
            raise ValueError(f"route path {value!r} must start with '/' and hold only URL path characters")
        return value


class RollbackPolicy(Model):
    """Swarm only: how a failed update is rolled back."""

    order: Literal["stop-first", "start-first"] = "stop-first"
    parallelism: int = Field(default=1, ge=0)
    delay: Duration = 0
    failure_action: Literal["pause", "continue"] = "pause"
    monitor: Duration = 5 * 10**9
    max_failure_ratio: float = Field(default=0.0, ge=0, le=1)


class SpreadPreference(Model):
    spread: str


class Placement(Model):
    """Swarm only: where tasks may run."""

    constraints: tuple[str, ...] = ()
    preferences: tuple[SpreadPreference, ...] = ()
    max_replicas_per_node: int | None = Field(default=None, ge=1)


class Reservations(Model):
    """Swarm only: what the scheduler sets aside on a node for each task."""

    memory: Size | None = None
    cpus: float | None = Field(default=None, gt=0, allow_inf_nan=False)


Condition = Literal["started", "healthy", "completed"]


def _command(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return tuple(shlex.split(value))
        except ValueError as exc:
            raise ValueError(f"cannot split command {value!r}: {exc}") from None
    return value


Command = Annotated[tuple[str, ...] | None, BeforeValidator(_command, json_schema_input_type=str | list[str])]


def _env(value: Any) -> Any:
    if isinstance(value, list):
        table: dict[str, Any] = {}
        for item in value:
            text = item.reveal() if isinstance(item, Secret) else item
            if not isinstance(text, str) or "=" not in text:
                raise ValueError(f"env entry {item!r} is not KEY=VALUE")
            key, _, val = text.partition("=")
            # "KEY={{ secret('X') }}" renders to one Secret: only the value stays secret
            table[key] = type(item)(val, item.names) if isinstance(item, Secret) else val
        value = table
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, val in value.items():
            _env_key(key)
            if isinstance(val, bool):
                val = "true" if val else "false"
            elif isinstance(val, int | float):
                val = str(val)
            if "\x00" in (val.reveal() if isinstance(val, Secret) else str(val)):
                raise ValueError(f"env {key!r}: the value holds a NUL character (the engine cannot pass it)")
            out[key] = val
        return out
    return value


def _env_key(key: Any) -> None:
    if not isinstance(key, str) or not key or "=" in key or "\x00" in key:
        raise ValueError(f"env name {key!r} is not a variable name (not empty, no '=' or NUL)")


Env = Annotated[
    dict[str, str | Secret],
    BeforeValidator(_env, json_schema_input_type=dict[str, str | int | float | bool] | list[str]),
]


def _str_map(value: Any) -> Any:
    if isinstance(value, list):
        out = {}
        for item in value:
            if not isinstance(item, str) or "=" not in item:
                raise ValueError(f"entry {item!r} is not KEY=VALUE")
            key, _, val = item.partition("=")
            out[key] = val
        return out
    if isinstance(value, dict):
        return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
    return value


Labels = Annotated[
    dict[str, str],
    BeforeValidator(_str_map, json_schema_input_type=dict[str, str | int | float | bool] | list[str]),
]


def _extra_hosts(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(
            sorted(_host_ip(f"{host}:{ip}", str(host), str(ip), f"{host} = {ip}") for host, ip in value.items())
        )
    if isinstance(value, list):
        return tuple(sorted({_extra_host(item) for item in value}))
    return value


def _extra_host(item: Any) -> str:
    """`HOST:IP` stays as written; Compose's `HOST=IP` becomes `HOST:IP` (an IPv6 address holds ':'
    but never '=', and a hostname neither, so the first '=' is the separator)."""
    if isinstance(item, str) and "=" in item:
        host, _, ip = item.partition("=")
        if ip.startswith("[") and ip.endswith("]"):  # Compose's `HOST=[::1]`
            ip = ip[1:-1]
        if host and ip:
            return _host_ip(f"{host}:{ip}", host, ip, item)
    elif isinstance(item, str) and ":" in item:
        host, _, ip = item.partition(":")
        return _host_ip(item, host, ip.removeprefix("[").removesuffix("]"), item)
    raise ValueError(f"extra host {item!r} is not HOST:IP or HOST=IP")


def _host_ip(entry: str, host: str, ip: str, item: str) -> str:
    """The engine takes an IP address (or its own word 'host-gateway'), and a host name without spaces."""
    if not host or any(c.isspace() or c in "\x00/" for c in host):
        raise ValueError(f"extra host {item!r}: {host!r} is not a host name")
    if ip != "host-gateway":
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise ValueError(f"extra host {item!r}: {ip!r} is not an IP address (or 'host-gateway')") from None
    return entry


def _caps(value: Any) -> Any:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(sorted({v.upper().removeprefix("CAP_") for v in value}))
    return value


Caps = Annotated[tuple[str, ...], BeforeValidator(_caps, json_schema_input_type=list[str])]


def _sorted_strs(value: Any) -> Any:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(sorted(set(value)))
    return value


def _tmpfs(value: Any) -> Any:
    value = [value] if isinstance(value, str) else value
    for item in value if isinstance(value, list) else ():
        if isinstance(item, str) and not item.startswith("/"):
            raise ValueError(f"tmpfs {item!r} must be an absolute path (PATH[:OPTIONS], e.g. /run:size=64m)")
    return _sorted_strs(value)


# The engine's signal names (Linux); a number 1-64, or SIGRTMIN+N / SIGRTMAX-N, is accepted too.
SIGNALS = frozenset(
    {
        "ABRT",
        "ALRM",
        "BUS",
        "CHLD",
        "CLD",
        "CONT",
        "FPE",
        "HUP",
        "ILL",
        "INT",
        "IO",
        "IOT",
        "KILL",
        "PIPE",
        "POLL",
        "PROF",
        "PWR",
        "QUIT",
        "SEGV",
        "STKFLT",
        "STOP",
        "SYS",
        "TERM",
        "TRAP",
        "TSTP",
        "TTIN",
        "TTOU",
        "UNUSED",
        "URG",
        "USR1",
        "USR2",
        "VTALRM",
        "WINCH",
        "XCPU",
        "XFSZ",
        "RTMIN",
        "RTMAX",
    }
)
_RT_SIGNAL = re.compile(r"RTMIN\+([0-9]{1,2})|RTMAX-([0-9]{1,2})")


def signal_name(value: str) -> str:
    """'term', 'SIGTERM', '15' -> 'SIGTERM' / '15'; an unknown signal is a ValueError."""
    text = value.strip().upper()
    if text.isdigit() and text.isascii():
        if 1 <= int(text) <= 64:
            return str(int(text))
    else:
        bare = text.removeprefix("SIG")
        rt = _RT_SIGNAL.fullmatch(bare)
        if bare in SIGNALS or (rt and int(rt.group(1) or rt.group(2)) <= 30):
            return f"SIG{bare}"
    raise ValueError(f"{value!r} is not a signal the engine knows (e.g. SIGTERM, SIGHUP, SIGUSR1, or 1-64)")


ComposeCondition = Literal["service_started", "service_healthy", "service_completed_successfully"]


class ComposeDependency(Model):
    """Compose's long form, `{ condition = "service_healthy" }`, accepted as it is."""

    condition: Condition | ComposeCondition = "started"


def _depends_on(value: Any) -> Any:
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise ValueError("depends_on must be a list of names or a table of name = condition")
        return {name: "default" for name in value}  # resolved per kind by the loader
    if isinstance(value, dict):
        out = {}
        for name, cond in value.items():
            if isinstance(cond, dict):  # Compose's { condition = "service_healthy" }
                table: Any = _table(ComposeDependency, cond, f"depends_on {name!r}")
                cond = table.condition
            if isinstance(cond, str):
                cond = cond.removeprefix("service_").replace("completed_successfully", "completed")
            if cond not in typing.get_args(Condition):
                raise ValueError(
                    f"{cond!r} is not a condition for {name!r} (expected 'started', 'healthy' or 'completed')"
                )
            out[name] = cond
        return out
    raise ValueError("depends_on must be a list of names or a table of name = condition")


DependsOn = Annotated[
    dict[str, Literal["started", "healthy", "completed", "default"]],
    BeforeValidator(
        _depends_on,
        json_schema_input_type=list[str] | dict[str, Condition | ComposeCondition | ComposeDependency],
    ),
]

RESTART_HELP = "expected 'no', 'always', 'unless-stopped', 'on-failure' or 'on-failure:N' (at most N retries)"


def _restart(value: Any) -> Any:
    """Compose's spellings; 'on-failure:N' keeps its retry count, 'on-failure:0' is 'on-failure'."""
    if isinstance(value, str):
        policy, sep, count = value.partition(":")
        if policy in ("no", "always", "unless-stopped", "on-failure") and not sep:
            return value
        if policy == "on-failure" and count.isdigit():
            return "on-failure" if int(count) == 0 else f"on-failure:{int(count)}"
    raise ValueError(f"{value!r} is not a restart policy ({RESTART_HELP})")


RestartPolicy = Annotated[
    str,
    BeforeValidator(_restart),
    WithJsonSchema({"type": "string", "pattern": "^(no|always|unless-stopped|on-failure(:[0-9]+)?)$"}),
]


# ---------------------------------------------------------------- host settings (Compose's names)

_DEVICE_HELP = (
    "expected /dev/HOST[:/dev/CONTAINER[:PERMISSIONS]] (permissions: r, w, m) or { source, target, permissions }"
)


class DeviceTable(Model):
    source: str
    target: str | None = None
    permissions: str = "rwm"


def _device(value: Any) -> Any:
    """A host device in the engine's full form: HOST:CONTAINER:PERMISSIONS."""
    if isinstance(value, dict):
        table: Any = _table(DeviceTable, value, "a device table")
        value = f"{table.source}:{table.target or table.source}:{table.permissions}"
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a device ({_DEVICE_HELP})")
    parts = value.split(":")
    if len(parts) == 1 or (len(parts) == 2 and not parts[1].startswith("/")):
        host, ctr, perms = parts[0], parts[0], (parts[1] if len(parts) == 2 else "rwm")
    elif len(parts) in (2, 3):
        host, ctr, perms = parts[0], parts[1], (parts[2] if len(parts) == 3 else "rwm")
    else:
        raise ValueError(f"{value!r} is not a device ({_DEVICE_HELP})")
    if not host.startswith("/") or not ctr.startswith("/") or not perms or set(perms) - set("rwm"):
        raise ValueError(f"{value!r} is not a device ({_DEVICE_HELP})")
    return f"{host}:{ctr}:{''.join(c for c in 'rwm' if c in perms)}"


def _devices(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(sorted({_device(v) for v in value}))
    return value


def _gpus(value: Any) -> Any:
    if value == "all":
        return -1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"gpus {value!r}: expected 'all' or a number of GPUs (1 or more)")
    return value


class Ulimit(Model):
    soft: int = Field(ge=-1)
    hard: int = Field(ge=-1)


ULIMIT_NAMES = frozenset(
    {
        *("as", "core", "cpu", "data", "fsize", "locks", "memlock", "msgqueue", "nice", "nofile"),
        *("nproc", "rss", "rtprio", "rttime", "sigpending", "stack"),
    }
)


def _ulimits(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    out = {}
    for name, limit in sorted(value.items()):
        if name not in ULIMIT_NAMES:
            raise ValueError(f"{name!r} is not a ulimit (one of {', '.join(sorted(ULIMIT_NAMES))})")
        if isinstance(limit, int) and not isinstance(limit, bool):
            limit = {"soft": limit, "hard": limit}
        table: Any = _table(Ulimit, limit, f"ulimit {name!r}")
        if table.hard != -1 and (table.soft == -1 or table.soft > table.hard):
            raise ValueError(f"ulimit {name!r}: soft limit {table.soft} is above the hard limit {table.hard}")
        out[name] = table
    return out


_SYSCTL = re.compile(r"[a-z0-9_]+(?:[./][a-zA-Z0-9_-]+)+")


def _sysctls(value: Any) -> Any:
    if isinstance(value, list):
        value = dict(str(v).partition("=")[::2] for v in value)
    if not isinstance(value, dict):
        return value
    out = {}
    for key, val in sorted(value.items()):
        if not isinstance(key, str) or not _SYSCTL.fullmatch(key):
            raise ValueError(f"{key!r} is not a sysctl name (e.g. net.core.somaxconn)")
        if isinstance(val, bool) or not isinstance(val, str | int | float):
            raise ValueError(f"sysctl {key!r}: {val!r} is not a value")
        out[key] = str(val)
    return out


class Logging(Model):
    """The container's log driver, as Compose's `logging` (the engine's default when not given)."""

    driver: str = Field(min_length=1)
    options: dict[str, str] = {}

    @field_validator("options", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        return value


def _namespace(what: str, words: tuple[str, ...]) -> Any:
    """ipc / pid / network_mode: one of `words`, container:NAME (a container outside the stack)
    or service:NAME (a container of this stack)."""

    def check(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        kind, sep, name = value.partition(":")
        if (not sep and value in words) or (sep and kind in ("container", "service") and NAME_RE.fullmatch(name)):
            return value
        raise ValueError(
            f"{what} {value!r}: expected {', '.join(repr(w) for w in words)}, 'container:NAME' or 'service:NAME'"
        )

    return check


IPC_MODES = ("private", "shareable", "host", "none")
PID_MODES = ("host",)
NETWORK_MODES = ("host", "none", "bridge")
_MAC = re.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}")
_PLATFORM = re.compile(r"[a-z0-9]+/[a-z0-9_]+(?:/[a-z0-9]+)?")


def _group(value: Any) -> Any:
    if isinstance(value, list):
        if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
            raise ValueError("group_add must be a list of group names or GIDs")
        return tuple(sorted({str(v) for v in value}))
    return value


def _ip_list(value: Any) -> Any:
    value = [value] if isinstance(value, str) else value
    if isinstance(value, list):
        for item in value:
            try:
                ipaddress.ip_address(item)
            except (TypeError, ValueError):
                raise ValueError(f"dns {item!r} is not an IP address") from None
        return tuple(value)
    return value


def _strs(value: Any) -> Any:
    return tuple([value] if isinstance(value, str) else value) if isinstance(value, str | list) else value


# ---------------------------------------------------------------- resources


class ContainerSpec(Model):
    """A long-running container (or, with replicas, several alike)."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["image"]}, {"required": ["build"]}]})

    image: str = Field(default="", min_length=1)  # with `build`: the repository (the tag comes from the context)
    build: BuildSpec | None = None
    command: Command = None
    entrypoint: Command = None
    env: Env = {}
    env_file: Annotated[
        tuple[str, ...],
        BeforeValidator(lambda v: [v] if isinstance(v, str) else v, json_schema_input_type=str | list[str]),
    ] = ()
    ports: tuple[Port, ...] = ()
    volumes: tuple[MountSpec, ...] = ()
    tmpfs: Annotated[tuple[str, ...], BeforeValidator(_tmpfs, json_schema_input_type=list[str])] = ()
    networks: Attachments = ()
    restart: RestartPolicy = "no"
    healthcheck: Healthcheck | None = None
    depends_on: DependsOn = {}
    labels: Labels = {}
    user: str | None = None
    working_dir: str | None = None
    hostname: str | None = None
    memory: Size | None = None
    memory_reservation: Size | None = None
    cpus: float | None = Field(default=None, ge=0.01, le=MAX_CPUS, allow_inf_nan=False)
    pids_limit: int | None = Field(default=None, ge=-1)
    cap_add: Caps = ()
    cap_drop: Caps = ()
    read_only: bool = False
    stop_signal: str | None = None
    stop_grace_period: Duration = 10 * 10**9
    extra_hosts: Annotated[
        tuple[str, ...],
        BeforeValidator(_extra_hosts, json_schema_input_type=list[str] | dict[str, str]),
    ] = ()
    replicas: int = Field(default=1, ge=0, le=100)
    files: tuple[FileMount, ...] = ()
    secrets: SecretMounts = ()
    update: UpdatePolicy = UpdatePolicy.model_construct()
    pull: Literal["missing", "always", "never"] = "missing"
    # `hostform adopt`: the running container(s) to take over, by engine name (one per replica);
    # hostform's bookkeeping only: not in the canonical spec, so it never changes a container
    adopt: Annotated[
        tuple[str, ...],
        BeforeValidator(lambda v: [v] if isinstance(v, str) else v, json_schema_input_type=str | list[str]),
    ] = ()
    # Swarm only (target = "swarm"); errors on one host (declare/targets.py)
    global_: bool = Field(default=False, alias="global")
    placement: Placement | None = None
    reservations: Reservations | None = None
    rollback: RollbackPolicy = RollbackPolicy.model_construct()
    endpoint_mode: Literal["vip", "dnsrr"] = "vip"
    route: Route | None = None  # served through the edge proxy (one host)
    # host settings, Compose's names (one host only: declare/targets.py refuses them on Swarm)
    privileged: bool = False
    devices: Annotated[tuple[str, ...], BeforeValidator(_devices, json_schema_input_type=list[str | DeviceTable])] = ()
    gpus: Annotated[int | None, BeforeValidator(_gpus, json_schema_input_type=Literal["all"] | int)] = None
    network_mode: Annotated[str | None, BeforeValidator(_namespace("network_mode", NETWORK_MODES))] = None
    init: bool = False
    shm_size: Size | None = None
    ulimits: Annotated[
        dict[str, Ulimit], BeforeValidator(_ulimits, json_schema_input_type=dict[str, int | Ulimit])
    ] = {}
    sysctls: Annotated[
        dict[str, str],
        BeforeValidator(_sysctls, json_schema_input_type=dict[str, str | int | float] | list[str]),
    ] = {}
    logging: Logging | None = None
    security_opt: Annotated[tuple[str, ...], BeforeValidator(_strs, json_schema_input_type=list[str])] = ()
    group_add: Annotated[tuple[str, ...], BeforeValidator(_group, json_schema_input_type=list[str | int])] = ()
    ipc: Annotated[str | None, BeforeValidator(_namespace("ipc", IPC_MODES))] = None
    pid: Annotated[str | None, BeforeValidator(_namespace("pid", PID_MODES))] = None
    dns: Annotated[tuple[str, ...], BeforeValidator(_ip_list, json_schema_input_type=str | list[str])] = ()
    dns_search: Annotated[tuple[str, ...], BeforeValidator(_strs, json_schema_input_type=str | list[str])] = ()
    platform: str | None = Field(default=None, pattern=_PLATFORM.pattern)
    mac_address: str | None = Field(default=None, pattern=_MAC.pattern)

    @model_validator(mode="after")
    def _own_network_namespace(self) -> ContainerSpec:
        """A container in another's (or the host's) network namespace has no networks, ports or
        name settings of its own: the engine refuses them or drops them."""
        mode = self.network_mode
        if mode is None:
            return self
        # a route joins the edge proxy's network: none in another namespace
        given: list[str] = [k for k in ("networks", "route") if k in self.model_fields_set]
        if mode != "bridge":
            given += [k for k in ("ports", "mac_address") if k in self.model_fields_set]
        if mode.startswith(("container:", "service:")):
            given += [k for k in ("hostname", "extra_hosts", "dns", "dns_search") if k in self.model_fields_set]
        if given:
            raise ValueError(f"network_mode {mode!r} cannot be given with {', '.join(map(repr, given))}")
        return self

    @model_validator(mode="after")
    def _adopt_per_replica(self) -> ContainerSpec:
        if len(self.adopt) > max(self.replicas, 1):
            raise ValueError(
                f"adopt names {len(self.adopt)} containers for replicas = {self.replicas}: one per replica"
            )
        return self

    @field_validator("ports")
    @classmethod
    def _sort_ports(cls, value: tuple[PortMapping, ...]) -> tuple[PortMapping, ...]:
        key = lambda p: (p.container_port, p.protocol, p.host_ip, p.host_port or 0)  # noqa: E731
        return tuple(sorted(value, key=key))

    @field_validator("volumes")
    @classmethod
    def _sort_mounts(cls, value: tuple[Mount, ...]) -> tuple[Mount, ...]:
        return tuple(sorted(value, key=lambda m: m.target))

    @field_validator("files")
    @classmethod
    def _sort_files(cls, value: tuple[FileMount, ...]) -> tuple[FileMount, ...]:
        return tuple(sorted(value, key=lambda f: f.target))

    @field_validator("cpus")
    @classmethod
    def _nano_cpus(cls, value: float | None) -> float | None:
        # the engine keeps whole billionths of a CPU: compare with what it will hold
        return None if value is None else round(value, 9)

    @field_validator("stop_signal")
    @classmethod
    def _signal(cls, value: str | None) -> str | None:
        return None if value is None else signal_name(value)

    @field_validator("memory")
    @classmethod
    def _engine_minimum(cls, value: int | None) -> int | None:
        if value is not None and value < MIN_MEMORY:
            raise ValueError(f"memory {value} bytes is below the engine's minimum of 6m")
        return value

    @model_validator(mode="after")
    def _reservation_within_limit(self) -> ContainerSpec:
        if self.memory and self.memory_reservation and self.memory_reservation > self.memory:
            raise ValueError("memory_reservation must not be above memory (the engine refuses it)")
        return self

    @model_validator(mode="after")
    def _image_or_build(self) -> ContainerSpec:
        if "image" not in self.model_fields_set and self.build is None:  # image = "" is refused above
            raise ValueError("needs 'image' (or 'build', to build one from a folder)")
        if self.build is not None and ("@" in self.image or IMAGE_TAG_RE.search(self.image.rsplit("/", 1)[-1])):
            raise ValueError(
                f"image {self.image!r}: with 'build', image names the repository only "
                "(the tag is made from the build context, e.g. ctx-3f2a9c1b)"
            )
        return self


class JobSpec(ContainerSpec):
    """A one-shot container (a migration, say): runs to completion before its dependents."""

    @model_validator(mode="after")
    def _one_shot(self) -> JobSpec:
        wrong = [
            f"{key!r} must be {want}"
            for key, want, ok in (
                ("replicas", "1", self.replicas == 1),
                ("restart", "'no'", self.restart == "no"),
            )
            if not ok
        ]
        if wrong:
            raise ValueError("a job runs once: " + " and ".join(wrong))
        return self


class NetworkSpec(Model):
    # bridge (the default); macvlan / ipvlan put containers on a host interface's network,
    # options.parent naming that interface (checked at plan time: it must exist and be up)
    driver: str = "bridge"
    internal: bool = False
    attachable: bool = False
    subnet: str | None = None
    gateway: str | None = None
    options: dict[str, str] = {}
    labels: Labels = {}
    external: bool = False

    @field_validator("subnet")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_network(value, strict=False)
            except ValueError:
                raise ValueError(f"{value!r} is not a subnet (expected CIDR such as 10.20.0.0/16)") from None
        return value

    @field_validator("gateway")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ValueError(f"{value!r} is not an IP address") from None
        return value


class VolumeSpec(Model):
    driver: str = "local"
    driver_opts: dict[str, str] = {}
    labels: Labels = {}
    external: bool = False


class FileSpec(Model):
    """A config file: exactly one of source (a file), content (inline), template (Jinja2)."""

    source: str | None = None
    content: str | Secret | None = None
    template: str | None = None
    reload_signal: str | None = None

    @field_validator("reload_signal")
    @classmethod
    def _signal(cls, value: str | None) -> str | None:
        if value is not None:
            signal_name(value)  # checked, kept as written
        return value

    @model_validator(mode="after")
    def _one_origin(self) -> FileSpec:
        given = [k for k in ("source", "content", "template") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("a file needs exactly one of 'source', 'content', 'template'")
        return self


class SecretSpec(Model):
    """`[secrets.NAME]`: where secret('NAME') reads its value (declare.secret_sources): the
    standard output of a command (no shell; never under --untrusted) or a file in the stack's folder."""

    command: tuple[str, ...] | None = None
    file: str | None = None
    timeout: Duration = 30 * 10**9  # for a command

    @field_validator("command")
    @classmethod
    def _argv(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or not all(value)):
            raise ValueError("a command is a non-empty list of non-empty strings: the program, then its arguments")
        return value

    @field_validator("file")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not value:
            raise ValueError("a file's path, relative to the stack's folder")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> SecretSpec:
        if self.command is not None and self.file is not None:
            raise ValueError("the secret is given by both 'command' and 'file': keep one")
        if self.command is None and self.file is None:
            raise ValueError("a secret needs one of 'command' or 'file'")
        return self


class StackMeta(Model):
    name: str
    env: tuple[str, ...] = ()  # environment variables templates may read with env(), as plain values
    target: Literal["host", "swarm"] = "host"  # one engine, or Docker Swarm through a manager
    registry: str | None = None  # where built images are pushed (an image naming a registry host wins)
    push: bool = False  # push every built image on apply
    secrets_file: str | None = None  # age-encrypted NAME=VALUE lines in the stack's folder

    @field_validator("name")
    @classmethod
    def _docker_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", value):
            raise ValueError(
                f"stack name {value!r} must be lower case letters, digits, '_' or '-' (it prefixes every engine name)"
            )
        return value


class Stack(StackMethods, Model):
    """A whole stack file, validated, with every default explicit."""

    stack: StackMeta
    vars: dict[str, Any] = {}
    containers: dict[str, ContainerSpec] = {}
    jobs: dict[str, JobSpec] = {}
    networks: dict[str, NetworkSpec] = {}
    volumes: dict[str, VolumeSpec] = {}
    files: dict[str, FileSpec] = {}
    secrets: dict[str, SecretSpec] = {}

    @field_validator("secrets")
    @classmethod
    def _secret_names(cls, value: dict[str, SecretSpec]) -> dict[str, SecretSpec]:
        for name in value:
            if not SECRET_NAME_RE.fullmatch(name):
                raise ValueError(
                    f"[secrets.{name}]: a secret's name is an environment variable's name (letters, digits and '_')"
                )
        return value

    @field_validator("containers", "jobs", "networks", "volumes", "files", mode="before")
    @classmethod
    def _empty_tables(cls, value: Any) -> Any:
        # `[volumes.db_data]` with no keys is a declaration with defaults
        if isinstance(value, dict):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value

    def _default_network(self) -> NetworkSpec:
        return NetworkSpec.model_construct()  # no validation: nothing to check
