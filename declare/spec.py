"""The validated stack as plain frozen objects: what everything after validation works on.

declare/schema.py's pydantic models validate a stack file, word its errors and describe it
(JSON Schema). Right after validation the result is turned into the classes below, which carry
the same fields (names, order, defaults: tests/unit/test_spec.py pins it), the same frozen
equality and hash, the set of fields the user wrote (`model_fields_set`: the 3-way diff and the
target checks depend on it), `model_copy(update=...)` and the few methods the code uses. They
import no pydantic: a stack read back from the cache of validated stacks (declare.stack_cache)
is built from them directly, so a no-op plan never imports pydantic or builds a model class.

The shared methods live in the mixins here (`StackMethods`, `PortMappingMethods`), which the
pydantic models use too; runtime values the rest of hostform needs (`NAME_RE`,
`restart_policy`, a default `NetworkSpec()`) come from here as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, time
from typing import TYPE_CHECKING, Any, ClassVar, Self

from hostform.declare.names import DEFAULT_NETWORK
from hostform.declare.secrets import MASK, Secret

NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")  # always fullmatch: '$' would let "bad\n" through
NAME_HELP = "names start with a letter or digit and hold only letters, digits, '_', '.', '-'"


def restart_policy(restart: str) -> dict[str, Any]:
    """The engine's RestartPolicy for a canonical restart value."""
    name, _, count = restart.partition(":")
    return {"Name": name, "MaximumRetryCount": int(count or 0)}


# ---------------------------------------------------------------- methods shared with the models


class PortMappingMethods:
    __slots__ = ()
    if TYPE_CHECKING:
        container_port: int
        host_port: int | None
        host_ip: str
        protocol: str

    def __str__(self) -> str:
        host = f"{self.host_ip}:" if self.host_ip else ""
        host += f"{self.host_port}:" if self.host_port else ("" if not host else ":")
        return f"{host}{self.container_port}/{self.protocol}"


class StackMethods:
    __slots__ = ()
    if TYPE_CHECKING:
        stack: Any
        containers: dict[str, Any]
        jobs: dict[str, Any]
        networks: dict[str, Any]

        def _default_network(self) -> Any: ...

    @property
    def name(self) -> str:
        return str(self.stack.name)

    @property
    def on_swarm(self) -> bool:
        return bool(self.stack.target == "swarm")

    def services(self) -> dict[str, Any]:
        """Containers and jobs together, by name."""
        return {**self.containers, **self.jobs}

    def all_networks(self) -> dict[str, Any]:
        """The declared networks and the stack's default one (made even when not declared)."""
        nets = dict(self.networks)
        if DEFAULT_NETWORK not in nets:
            nets[DEFAULT_NETWORK] = self._default_network()
        return nets


# ---------------------------------------------------------------- the plain base


class Plain:
    """A frozen record of named fields: keyword construction with defaults, equality and hash
    by type and values, `model_fields_set`, `model_copy(update=...)`, `model_dump()`."""

    __slots__ = ("_set",)
    _fields: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}
    _set: frozenset[str]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            for name in klass.__dict__.get("__slots__", ()):
                if name != "_set" and name not in names:
                    names.append(name)
        cls._fields = tuple(names)

    def __init__(self, **values: Any) -> None:
        setter = object.__setattr__
        defaults = self._defaults
        given = 0
        for name in self._fields:
            if name in values:
                setter(self, name, values[name])
                given += 1
            elif name in defaults:
                value = defaults[name]
                setter(self, name, dict(value) if type(value) is dict else value)
            else:
                raise TypeError(f"{type(self).__name__} needs {name!r}")
        if given != len(values):
            unknown = sorted(set(values) - set(self._fields))
            raise TypeError(f"{type(self).__name__} has no field {', '.join(unknown)}")
        setter(self, "_set", frozenset(values))

    @classmethod
    def _restore(cls, values: list[Any], fields_set: Iterable[str]) -> Any:
        """An instance from its values in field order (the cache and the conversion use it)."""
        if len(values) != len(cls._fields):
            raise ValueError(f"{cls.__name__} has {len(cls._fields)} fields, not {len(values)}")
        new = object.__new__(cls)
        setter = object.__setattr__
        for name, value in zip(cls._fields, values, strict=True):
            setter(new, name, value)
        given = frozenset(fields_set)
        if not given <= set(cls._fields):
            raise ValueError(f"{cls.__name__}: unknown fields set {sorted(given - set(cls._fields))}")
        setter(new, "_set", given)
        return new

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    @property
    def model_fields_set(self) -> frozenset[str]:
        """The fields the user (or a model_copy update) set, as pydantic's model_fields_set."""
        return self._set

    def model_copy(self, *, update: dict[str, Any] | None = None) -> Self:
        update = update or {}
        if not update.keys() <= set(self._fields):
            raise TypeError(f"{type(self).__name__} has no field {', '.join(sorted(set(update) - set(self._fields)))}")
        new = object.__new__(type(self))
        setter = object.__setattr__
        for name in self._fields:
            setter(new, name, update[name] if name in update else getattr(self, name))
        setter(new, "_set", self._set | update.keys())
        return new

    def model_dump(self, mode: str = "python", exclude: set[str] | frozenset[str] = frozenset()) -> Any:
        """As pydantic's model_dump: nested objects as dicts, a secret as its mask; mode="json"
        gives lists for tuples."""
        data = fields_of(self, exclude)
        return _json_mode(data) if mode == "json" else data

    def model_dump_json(self) -> str:
        import json

        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Plain)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{n}={getattr(self, n)!r}' for n in self._fields)})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: use model_copy(update=...)")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __copy__(self) -> Any:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        import copy

        return type(self)._restore([copy.deepcopy(v, memo) for v in self._values()], self._set)

    def __reduce__(self) -> Any:
        return (_rebuild, (type(self).__name__, list(self._values()), sorted(self._set)))


def _rebuild(name: str, values: list[Any], fields_set: list[str]) -> Any:
    return CLASSES[name]._restore(values, fields_set)


def fields_of(model: Any, exclude: set[str] | frozenset[str] = frozenset()) -> Any:
    """`model.model_dump(mode="python", exclude=exclude)`, read from the fields themselves: the
    same values (nested objects as dicts, tuples kept, a secret as its mask), for the plain
    objects and the pydantic models alike (without building pydantic's serializer)."""
    if isinstance(model, Plain):
        return {name: fields_of(getattr(model, name)) for name in model._fields if name not in exclude}
    pydantic_fields = getattr(type(model), "__pydantic_fields__", None)
    if pydantic_fields is not None:
        return {name: fields_of(getattr(model, name)) for name in pydantic_fields if name not in exclude}
    if isinstance(model, dict):
        return {k: fields_of(v) for k, v in model.items()}
    if isinstance(model, tuple):
        return tuple(fields_of(v) for v in model)
    if isinstance(model, list):
        return [fields_of(v) for v in model]
    if isinstance(model, Secret):
        return MASK
    return model


def _json_mode(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_mode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_mode(v) for v in value]
    if isinstance(value, date | time):  # a TOML date or time kept in `vars`: ISO 8601, as pydantic writes it
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    return value


def plain_of(value: Any) -> Any:
    """A validated pydantic tree (a Stack, a ContainerSpec...) as the plain objects, with the
    same values and the same fields set."""
    pydantic_fields = getattr(type(value), "__pydantic_fields__", None)
    if pydantic_fields is not None:
        cls = CLASSES.get(type(value).__name__)
        if cls is None or tuple(pydantic_fields) != cls._fields:
            raise TypeError(f"{type(value).__name__} has no plain twin with the same fields")
        return cls._restore([plain_of(getattr(value, n)) for n in cls._fields], value.model_fields_set)
    if isinstance(value, dict):
        return {k: plain_of(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(plain_of(v) for v in value)
    if isinstance(value, list):
        return [plain_of(v) for v in value]
    return value


# ---------------------------------------------------------------- the stack's parts
# Field order and defaults as in declare/schema.py (tests/unit/test_spec.py compares them).


class PortMapping(PortMappingMethods, Plain):
    __slots__ = ("container_port", "host_port", "host_ip", "protocol", "mode")
    container_port: int
    host_port: int | None
    host_ip: str
    protocol: str
    mode: str | None
    _defaults = {"host_port": None, "host_ip": "", "protocol": "tcp", "mode": None}


class Mount(Plain):
    __slots__ = ("type", "source", "target", "read_only")
    type: str
    source: str
    target: str
    read_only: bool
    _defaults = {"read_only": False}


class NetworkAttachment(Plain):
    __slots__ = ("name", "aliases")
    name: str
    aliases: tuple[str, ...]
    _defaults = {"aliases": ()}


class Healthcheck(Plain):
    __slots__ = ("test", "interval", "timeout", "retries", "start_period", "disable")
    test: tuple[str, ...]
    interval: int
    timeout: int
    retries: int
    start_period: int
    disable: bool
    _defaults = {
        "test": (),
        "interval": 30 * 10**9,
        "timeout": 30 * 10**9,
        "retries": 3,
        "start_period": 0,
        "disable": False,
    }


class FileMount(Plain):
    __slots__ = ("source", "target", "mode")
    source: str
    target: str
    mode: int
    _defaults = {"mode": 0o644}


class SecretMount(Plain):
    __slots__ = ("source", "target", "mode")
    source: str
    target: str
    mode: int
    _defaults = {"mode": 0o444}


class BuildTable(Plain):
    __slots__ = ("context", "dockerfile", "args", "target", "network")
    context: str
    dockerfile: str
    args: dict[str, str]
    target: str | None
    network: str | None
    _defaults = {"context": ".", "dockerfile": "Dockerfile", "args": {}, "target": None, "network": None}


_POLICY = ("order", "parallelism", "delay", "failure_action", "monitor", "max_failure_ratio")


class UpdatePolicy(Plain):
    __slots__ = (*_POLICY, "drain")
    order: str
    parallelism: int
    delay: int
    failure_action: str
    monitor: int
    max_failure_ratio: float
    drain: int
    _defaults = {
        "order": "stop-first",
        "parallelism": 1,
        "delay": 0,
        "failure_action": "rollback",
        "monitor": 5 * 10**9,
        "max_failure_ratio": 0.0,
        "drain": 0,
    }


class RollbackPolicy(Plain):
    __slots__ = _POLICY
    order: str
    parallelism: int
    delay: int
    failure_action: str
    monitor: int
    max_failure_ratio: float
    _defaults = {k: v for k, v in UpdatePolicy._defaults.items() if k != "drain"} | {"failure_action": "pause"}


class SpreadPreference(Plain):
    __slots__ = ("spread",)
    spread: str


class Placement(Plain):
    __slots__ = ("constraints", "preferences", "max_replicas_per_node")
    constraints: tuple[str, ...]
    preferences: tuple[SpreadPreference, ...]
    max_replicas_per_node: int | None
    _defaults = {"constraints": (), "preferences": (), "max_replicas_per_node": None}


class Reservations(Plain):
    __slots__ = ("memory", "cpus")
    memory: int | None
    cpus: float | None
    _defaults = {"memory": None, "cpus": None}


class Ulimit(Plain):
    __slots__ = ("soft", "hard")
    soft: int
    hard: int


class Logging(Plain):
    __slots__ = ("driver", "options")
    driver: str
    options: dict[str, str]
    _defaults = {"options": {}}


HOST_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(("privileged", "init"), False),
    **dict.fromkeys(("devices", "security_opt", "group_add", "dns", "dns_search"), ()),
    **dict.fromkeys(("gpus", "network_mode", "shm_size", "logging", "ipc", "pid", "platform", "mac_address"), None),
    **dict.fromkeys(("ulimits", "sysctls"), {}),
}
HOST_SETTINGS = (
    *("privileged", "devices", "gpus", "network_mode", "init", "shm_size", "ulimits", "sysctls", "logging"),
    *("security_opt", "group_add", "ipc", "pid", "dns", "dns_search", "platform", "mac_address"),
)


class RouteTLS(Plain):
    __slots__ = ("cert", "key", "cert_secret", "key_secret")
    cert: str | None
    key: str | None
    cert_secret: str | None
    key_secret: str | None
    _defaults = dict.fromkeys(("cert", "key", "cert_secret", "key_secret"), None)


class Route(Plain):
    __slots__ = ("host", "port", "path", "tls")
    host: str
    port: int
    path: str
    tls: RouteTLS | None
    _defaults = {"path": "/", "tls": None}


class ContainerSpec(Plain):
    """A long-running container (or, with replicas, several alike)."""

    __slots__ = (
        *("image", "build", "command", "entrypoint", "env", "env_file", "ports", "volumes", "tmpfs"),
        *("networks", "restart", "healthcheck", "depends_on", "labels", "user", "working_dir", "hostname"),
        *("memory", "memory_reservation", "cpus", "pids_limit", "cap_add", "cap_drop", "read_only"),
        *("stop_signal", "stop_grace_period", "extra_hosts", "replicas", "files", "secrets", "update"),
        *("pull", "adopt", "global_", "placement", "reservations", "rollback", "endpoint_mode", "route"),
        *HOST_SETTINGS,
    )
    image: str
    build: BuildTable | None
    command: tuple[str, ...] | None
    entrypoint: tuple[str, ...] | None
    env: dict[str, str | Secret]
    env_file: tuple[str, ...]
    ports: tuple[PortMapping, ...]
    volumes: tuple[Mount, ...]
    tmpfs: tuple[str, ...]
    networks: tuple[NetworkAttachment, ...]
    restart: str
    healthcheck: Healthcheck | None
    depends_on: dict[str, str]
    labels: dict[str, str]
    user: str | None
    working_dir: str | None
    hostname: str | None
    memory: int | None
    memory_reservation: int | None
    cpus: float | None
    pids_limit: int | None
    cap_add: tuple[str, ...]
    cap_drop: tuple[str, ...]
    read_only: bool
    stop_signal: str | None
    stop_grace_period: int
    extra_hosts: tuple[str, ...]
    replicas: int
    files: tuple[FileMount, ...]
    secrets: tuple[SecretMount, ...]
    update: UpdatePolicy
    pull: str
    adopt: tuple[str, ...]
    global_: bool
    placement: Placement | None
    reservations: Reservations | None
    rollback: RollbackPolicy
    endpoint_mode: str
    route: Route | None
    privileged: bool
    devices: tuple[str, ...]
    gpus: int | None
    network_mode: str | None
    init: bool
    shm_size: int | None
    ulimits: dict[str, Ulimit]
    sysctls: dict[str, str]
    logging: Logging | None
    security_opt: tuple[str, ...]
    group_add: tuple[str, ...]
    ipc: str | None
    pid: str | None
    dns: tuple[str, ...]
    dns_search: tuple[str, ...]
    platform: str | None
    mac_address: str | None
    _defaults = {
        "image": "",
        **dict.fromkeys(("build", "command", "entrypoint", "healthcheck", "user", "working_dir", "hostname"), None),
        **dict.fromkeys(("memory", "memory_reservation", "cpus", "pids_limit", "stop_signal"), None),
        **dict.fromkeys(("placement", "reservations", "route"), None),
        **dict.fromkeys(("env", "depends_on", "labels"), {}),
        **dict.fromkeys(("env_file", "ports", "volumes", "tmpfs", "networks", "cap_add", "cap_drop"), ()),
        **dict.fromkeys(("extra_hosts", "files", "secrets", "adopt"), ()),
        "restart": "no",
        "read_only": False,
        "stop_grace_period": 10 * 10**9,
        "replicas": 1,
        "update": UpdatePolicy(),
        "pull": "missing",
        "global_": False,
        "rollback": RollbackPolicy(),
        "endpoint_mode": "vip",
        **HOST_DEFAULTS,
    }


class JobSpec(ContainerSpec):
    """A one-shot container (a migration, say): runs to completion before its dependents."""

    __slots__ = ()


class NetworkSpec(Plain):
    __slots__ = ("driver", "internal", "attachable", "subnet", "gateway", "options", "labels", "external")
    driver: str
    internal: bool
    attachable: bool
    subnet: str | None
    gateway: str | None
    options: dict[str, str]
    labels: dict[str, str]
    external: bool
    _defaults = {
        "driver": "bridge",
        "internal": False,
        "attachable": False,
        "subnet": None,
        "gateway": None,
        "options": {},
        "labels": {},
        "external": False,
    }


class VolumeSpec(Plain):
    __slots__ = ("driver", "driver_opts", "labels", "external")
    driver: str
    driver_opts: dict[str, str]
    labels: dict[str, str]
    external: bool
    _defaults = {"driver": "local", "driver_opts": {}, "labels": {}, "external": False}


class FileSpec(Plain):
    """A config file: exactly one of source (a file), content (inline), template (Jinja2)."""

    __slots__ = ("source", "content", "template", "reload_signal")
    source: str | None
    content: str | Secret | None
    template: str | None
    reload_signal: str | None
    _defaults = dict.fromkeys(("source", "content", "template", "reload_signal"), None)


class SecretSpec(Plain):
    """`[secrets.NAME]`: a command or a file that gives secret('NAME') its value."""

    __slots__ = ("command", "file", "timeout")
    command: tuple[str, ...] | None
    file: str | None
    timeout: int
    _defaults = {"command": None, "file": None, "timeout": 30 * 10**9}


class StackMeta(Plain):
    __slots__ = ("name", "env", "target", "registry", "push", "secrets_file")
    name: str
    env: tuple[str, ...]
    target: str
    registry: str | None
    push: bool
    secrets_file: str | None
    _defaults = {"env": (), "target": "host", "registry": None, "push": False, "secrets_file": None}


class Stack(StackMethods, Plain):
    """A whole stack file, validated, with every default explicit."""

    __slots__ = ("stack", "vars", "containers", "jobs", "networks", "volumes", "files", "secrets")
    stack: StackMeta
    vars: dict[str, Any]
    containers: dict[str, ContainerSpec]
    jobs: dict[str, JobSpec]
    networks: dict[str, NetworkSpec]
    volumes: dict[str, VolumeSpec]
    files: dict[str, FileSpec]
    secrets: dict[str, SecretSpec]
    _defaults = dict.fromkeys(("vars", "containers", "jobs", "networks", "volumes", "files", "secrets"), {})

    def _default_network(self) -> NetworkSpec:
        return NetworkSpec()

    def services(self) -> dict[str, ContainerSpec]:
        return super().services()

    def all_networks(self) -> dict[str, NetworkSpec]:
        return super().all_networks()


CLASSES: dict[str, type[Plain]] = {
    cls.__name__: cls
    for cls in (
        *(PortMapping, Mount, NetworkAttachment, Healthcheck, FileMount, SecretMount, BuildTable),
        *(UpdatePolicy, RollbackPolicy, RouteTLS, Route, SpreadPreference, Placement, Reservations),
        *(ContainerSpec, JobSpec),
        *(Ulimit, Logging),
        *(NetworkSpec, VolumeSpec, FileSpec, SecretSpec, StackMeta, Stack),
    )
}
