"""The edge proxy's route table as plain records (no engine here: the planner reads them)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from hostform.declare import names


def backend_of(stack: str, name: str) -> str:
    """The HAProxy backend of a routed container name (a stack's name holds no '.': never ambiguous)."""
    return f"{stack}.{name}"


@dataclass(frozen=True)
class Server:
    name: str  # the container's short ID
    addr: str  # IP:PORT on the edge network


@dataclass(frozen=True)
class RouteEntry:
    """One routed container name of one stack: where its requests come from and go to."""

    stack: str
    name: str
    host: str
    path: str
    port: int
    tls: str = ""  # digest of the certificate and key ("" without TLS)
    servers: tuple[Server, ...] = ()

    @property
    def backend(self) -> str:
        return backend_of(self.stack, self.name)

    @property
    def key(self) -> str:
        return f"{self.host}{self.path}"

    def shape(self) -> dict[str, Any]:
        """What the route is, without its servers (plans compare this)."""
        return {"host": self.host, "path": self.path, "port": self.port, "tls": self.tls}

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "name": self.name,
            **self.shape(),
            "servers": [{"name": s.name, "addr": s.addr} for s in self.servers],
        }

    @classmethod
    def of_json(cls, data: dict[str, Any]) -> RouteEntry:
        servers = tuple(Server(str(s["name"]), str(s["addr"])) for s in data.get("servers") or ())
        return cls(
            str(data["stack"]),
            str(data["name"]),
            str(data["host"]),
            str(data["path"]),
            int(data["port"]),
            str(data.get("tls") or ""),
            servers,
        )


@dataclass(frozen=True)
class Edge:
    """The proxy as found on the engine: its container and its route table."""

    proxy: str  # the proxy stack's name
    ident: str  # its container
    https: bool
    routes: dict[str, RouteEntry] = field(default_factory=dict)  # by backend
    structure: str = ""  # digest of the rendered configuration without servers (a change reloads)

    @property
    def network(self) -> str:
        return names.edge_network(self.proxy)


@dataclass(frozen=True)
class EdgeView:
    """What a plan reads of the proxy: the proxy (None: not running) and the servers it holds now."""

    proxy: str
    edge: Edge | None
    live: dict[tuple[str, str], tuple[str, int]] = field(default_factory=dict)

    def token(self) -> str:
        """Changes when the routes or their servers do (a saved plan's freshness)."""
        if self.edge is None:
            return "absent"
        data = json.dumps([sorted(self.live.items()), self.edge.structure, sorted(self.edge.routes)], default=str)
        return hashlib.sha256(data.encode()).hexdigest()[:12]
