"""The shapes of the Compose keys the importer reads, checked before anything uses them.

A Compose file is YAML, so any key may hold any type: `services: [1, 2]`, `depends_on: 5`,
`tmpfs: !!set {a, b}`. Each file is checked against the table below as soon as it is read,
and the first value of the wrong shape is one error naming the file, line and key path.
Keys the table does not name are left to the mapper, which lists them as not imported.

YAML's own types that are no Compose value (!!binary, !!set, a mapping as a key) are refused
the same way; a timestamp becomes its ISO text and a number used as a key its digits, as
Compose reads them.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hostform.declare.errors import Problem, StackError

Path = tuple[str, ...]


class Shape:
    what: str

    def problems(self, value: Any, path: Path) -> Iterator[tuple[Path, str]]:
        if not self.fits(value):
            yield path, self.what

    def fits(self, value: Any) -> bool:
        return next(iter(self.problems(value, ())), None) is None


@dataclass(frozen=True)
class Leaf(Shape):
    what: str
    types: tuple[type, ...]

    def problems(self, value: Any, path: Path) -> Iterator[tuple[Path, str]]:
        if isinstance(value, bool) and bool not in self.types or not isinstance(value, self.types):
            yield path, self.what


@dataclass(frozen=True)
class ListOf(Shape):
    item: Shape
    what: str = ""

    def problems(self, value: Any, path: Path) -> Iterator[tuple[Path, str]]:
        if not isinstance(value, list):
            yield path, self.what or f"a list of {self.item.what}s"
            return
        for i, v in enumerate(value):
            yield from self.item.problems(v, (*path, str(i)))


@dataclass(frozen=True)
class MapOf(Shape):
    item: Shape
    what: str = ""

    def problems(self, value: Any, path: Path) -> Iterator[tuple[Path, str]]:
        if not isinstance(value, dict):
            yield path, self.what or f"a mapping of names to {self.item.what}s"
            return
        for k, v in value.items():
            yield from self.item.problems(v, (*path, str(k)))


@dataclass(frozen=True)
class Table(Shape):
    keys: Mapping[str, Shape]
    required: tuple[str, ...] = ()
    what: str = "a mapping of keys"
    rest: Shape | None = None  # the shape of keys not named (None: any, left to the mapper)

    def problems(self, value: Any, path: Path) -> Iterator[tuple[Path, str]]:
        if not isinstance(value, dict):
            yield path, self.what
            return
        for key in self.required:
            if key not in value:
                yield path, f"{self.what} with {key!r}"
                return
        for k, v in value.items():
            shape = self.keys.get(str(k), self.rest)
            if shape is not None and not str(k).startswith("x-"):
                yield from shape.problems(v, (*path, str(k)))


@dataclass(frozen=True)
class OneOf(Shape):
    options: tuple[Shape, ...]
    what: str = ""

    def problems(self, value: Any, path: Path) -> Iterator[tuple[Path, str]]:
        found: list[tuple[Path, str]] = []
        for option in self.options:
            got = list(option.problems(value, path))
            if not got:
                return
            found.extend(got)
        deeper = [p for p in found if len(p[0]) > len(path)]
        if deeper and self._kind_fits(value):  # the right kind with a wrong part: name the part
            yield deeper[0]
        else:
            yield path, self.what or " or ".join(o.what for o in self.options)

    def _kind_fits(self, value: Any) -> bool:
        return sum(1 for o in self.options if isinstance(o, ListOf | MapOf | Table) and _kind(o, value)) == 1


def _kind(shape: Shape, value: Any) -> bool:
    return isinstance(value, list) if isinstance(shape, ListOf) else isinstance(value, dict)


STR = Leaf("a string", (str,))
INT = Leaf("a whole number", (int,))
BOOL = Leaf("true or false", (bool,))
NULL = Leaf("nothing", (type(None),))
SCALAR = Leaf("a string or a number", (str, int, float, bool))
NUMBER = Leaf("a number", (int, float, str))  # a string: an interpolated ${VAR}, checked when mapped
ANY = Leaf("any value", (object,))
STRS = ListOf(STR, "a list of strings")
STR_OR_STRS = OneOf((STR, STRS), "a string or a list of strings")
KV = OneOf((MapOf(OneOf((SCALAR, NULL))), ListOf(SCALAR)), "a mapping of names to values or a list of NAME=VALUE")
# a value must be given (a null is Compose's "from the environment" only for environment and labels)
SET_KV = OneOf((MapOf(SCALAR), ListOf(SCALAR)), "a mapping of names to values or a list of NAME=VALUE")
DURATION = OneOf((STR, INT), "a duration such as 30s or 1m30s")

HEALTHCHECK = Table(
    {
        "test": STR_OR_STRS,
        "interval": DURATION,
        "timeout": DURATION,
        "start_period": DURATION,
        "start_interval": DURATION,
        "retries": NUMBER,
        "disable": BOOL,
    }
)
BUILD = OneOf(
    (STR, Table({"context": STR, "dockerfile": STR, "args": KV, "target": STR, "network": STR, "labels": KV})),
    "a folder or a mapping of build keys",
)
PORT = OneOf(
    (
        SCALAR,
        Table(
            {"target": NUMBER, "published": SCALAR, "host_ip": STR, "protocol": STR, "mode": STR, "name": STR},
            required=("target",),
        ),
    ),
    "a port (80, '8080:80') or a mapping with 'target'",
)
VOLUME = OneOf(
    (
        STR,
        Table(
            {
                "type": STR,
                "source": STR,
                "target": STR,
                "read_only": BOOL,
                "tmpfs": Table({"size": SCALAR, "mode": SCALAR}),
                "volume": Table({"nocopy": BOOL, "subpath": STR}),
                "bind": Table({"propagation": STR, "create_host_path": BOOL, "selinux": STR}),
            },
            required=("target",),
        ),
    ),
    "a mount ('data:/path') or a mapping with 'target'",
)
SERVICE_NETWORKS = OneOf(
    (
        STRS,
        MapOf(
            OneOf(
                (
                    NULL,
                    Table(
                        {
                            "aliases": STRS,
                            "ipv4_address": STR,
                            "ipv6_address": STR,
                            "priority": INT,
                            "mac_address": STR,
                        }
                    ),
                )
            )
        ),
    ),
    "a list of network names or a mapping of network names to settings",
)
DEPENDS_ON = OneOf(
    (STRS, MapOf(OneOf((NULL, Table({"condition": STR, "restart": BOOL, "required": BOOL}))))),
    "a list of service names or a mapping of service names to { condition }",
)
FILE_REF = OneOf(
    (STR, Table({"source": STR, "target": STR, "mode": SCALAR, "uid": SCALAR, "gid": SCALAR}, required=("source",))),
    "a name or a mapping with 'source'",
)
DEVICE_REQUEST = Table(
    {"capabilities": STRS, "count": OneOf((INT, STR)), "device_ids": STRS, "driver": STR, "options": KV}
)
RESOURCES = Table(
    {
        "limits": Table({"memory": SCALAR, "cpus": NUMBER, "pids": INT}),
        "reservations": Table({"memory": SCALAR, "cpus": NUMBER, "devices": ListOf(DEVICE_REQUEST)}),
    }
)
UPDATE = Table(
    {
        "order": STR,
        "parallelism": INT,
        "delay": DURATION,
        "failure_action": STR,
        "monitor": DURATION,
        "max_failure_ratio": NUMBER,
    }
)
DEPLOY = Table(
    {
        "replicas": INT,
        "resources": RESOURCES,
        "update_config": UPDATE,
        "rollback_config": UPDATE,
        "restart_policy": Table({"condition": STR, "max_attempts": INT, "delay": DURATION, "window": DURATION}),
        "placement": Table(
            {"constraints": STRS, "preferences": ListOf(Table({"spread": STR})), "max_replicas_per_node": INT}
        ),
        "mode": STR,
        "endpoint_mode": STR,
        "labels": KV,
    }
)
ULIMIT = OneOf((INT, Table({"soft": INT, "hard": INT}, required=("soft", "hard"))), "a number or { soft, hard }")

SERVICE = Table(
    {
        "image": STR,
        "build": BUILD,
        "command": OneOf((STR, ListOf(SCALAR), NULL), "a command line or a list of words"),
        "entrypoint": OneOf((STR, ListOf(SCALAR), NULL), "a command line or a list of words"),
        "environment": KV,
        "env_file": OneOf(
            (STR, ListOf(OneOf((STR, Table({"path": STR, "required": BOOL, "format": STR}, required=("path",))))))
        ),
        "ports": ListOf(PORT, "a list of ports"),
        "expose": ListOf(SCALAR, "a list of ports"),
        "volumes": ListOf(VOLUME, "a list of mounts"),
        "tmpfs": STR_OR_STRS,
        "networks": SERVICE_NETWORKS,
        "depends_on": DEPENDS_ON,
        "healthcheck": HEALTHCHECK,
        "restart": OneOf((STR, BOOL), "a restart policy such as unless-stopped"),
        "deploy": DEPLOY,
        "labels": KV,
        "user": OneOf((STR, INT), "a user name or UID[:GID]"),
        "working_dir": STR,
        "hostname": STR,
        "domainname": STR,
        "cap_add": STRS,
        "cap_drop": STRS,
        "read_only": BOOL,
        "stop_signal": STR,
        "stop_grace_period": DURATION,
        "extra_hosts": OneOf((STRS, MapOf(SCALAR)), "a list of HOST:IP or a mapping of hosts to addresses"),
        "mem_limit": SCALAR,
        "mem_reservation": SCALAR,
        "cpus": NUMBER,
        "pids_limit": INT,
        "configs": ListOf(FILE_REF, "a list of configs"),
        "secrets": ListOf(FILE_REF, "a list of secrets"),
        "scale": INT,
        "pull_policy": STR,
        "profiles": STRS,
        "extends": OneOf((STR, Table({"service": STR, "file": STR}, required=("service",)))),
        "container_name": STR,
        "privileged": BOOL,
        "init": BOOL,
        "devices": ListOf(
            OneOf((STR, Table({"source": STR, "target": STR, "permissions": STR}, required=("source",)))),
            "a list of devices (/dev/HOST[:/dev/CONTAINER[:rwm]])",
        ),
        "network_mode": STR,
        "shm_size": SCALAR,
        "ulimits": MapOf(ULIMIT, "a mapping of limit names to a number or { soft, hard }"),
        "sysctls": SET_KV,
        "logging": Table({"driver": STR, "options": OneOf((MapOf(OneOf((SCALAR, NULL))), NULL))}),
        "security_opt": STRS,
        "group_add": ListOf(OneOf((STR, INT)), "a list of group names or GIDs"),
        "ipc": STR,
        "pid": OneOf((STR, NULL)),
        "dns": STR_OR_STRS,
        "dns_search": STR_OR_STRS,
        "dns_opt": STRS,
        "platform": STR,
        "mac_address": STR,
        "tty": BOOL,
        "stdin_open": BOOL,
    }
)
_EXTERNAL = OneOf((BOOL, Table({"name": STR})), "true or false")
NETWORK = OneOf(
    (
        NULL,
        Table(
            {
                "driver": STR,
                "driver_opts": MapOf(SCALAR),
                "internal": BOOL,
                "attachable": BOOL,
                "labels": KV,
                "ipam": Table({"driver": STR, "config": ListOf(Table({"subnet": STR, "gateway": STR}))}),
                "external": _EXTERNAL,
                "name": STR,
                "enable_ipv6": BOOL,
            }
        ),
    ),
    "a mapping of network keys",
)
VOLUME_DEF = OneOf(
    (NULL, Table({"driver": STR, "driver_opts": MapOf(SCALAR), "labels": KV, "external": _EXTERNAL, "name": STR})),
    "a mapping of volume keys",
)
FILE_DEF = OneOf(
    (NULL, Table({"file": STR, "content": STR, "environment": STR, "external": _EXTERNAL, "name": STR})),
    "a mapping of keys (file, content or environment)",
)
TOP = Table(
    {
        "version": SCALAR,
        "name": STR,
        "services": OneOf((NULL, MapOf(OneOf((NULL, SERVICE)), "a mapping of service names to services"))),
        "networks": OneOf((NULL, MapOf(NETWORK, "a mapping of network names to networks"))),
        "volumes": OneOf((NULL, MapOf(VOLUME_DEF, "a mapping of volume names to volumes"))),
        "configs": OneOf((NULL, MapOf(FILE_DEF, "a mapping of config names to configs"))),
        "secrets": OneOf((NULL, MapOf(FILE_DEF, "a mapping of secret names to secrets"))),
    }
)


def check_shape(data: dict[str, Any], shown: str, lines: Mapping[Path, Any]) -> None:
    """The first value of the wrong shape in a Compose file, as one error."""
    for path, expected in TOP.problems(data, ()):
        raise StackError([Problem(shown, ".".join(path), f"expected {expected}", _line(lines, path))])


def plain_tree(value: Any, shown: str, lines: Mapping[Path, Any], path: Path = ()) -> Any:
    """The YAML data as Compose's plain values: str keys; no bytes, sets or other tagged types."""
    if isinstance(value, dict):
        return {_key(k, shown, lines, path): plain_tree(v, shown, lines, (*path, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_tree(v, shown, lines, path) for v in value]
    if isinstance(value, datetime.date | datetime.datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise _refused(shown, lines, path, f"a YAML {type(value).__name__} is not a Compose value (quote it)")


def _key(key: Any, shown: str, lines: Mapping[Path, Any], path: Path) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, int | float) and not isinstance(key, bool):
        return str(key)
    raise _refused(shown, lines, path, f"a key must be a name, not {type(key).__name__} {key!r:.40}")


def _refused(shown: str, lines: Mapping[Path, Any], path: Path, message: str) -> StackError:
    return StackError([Problem(shown, ".".join(path), message, _line(lines, path))])


def _line(lines: Mapping[Path, Any], path: Path) -> int | None:
    while path:
        if path in lines:
            return int(lines[path].line)
        path = path[:-1]
    return None
