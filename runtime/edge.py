"""The edge proxy on the engine: HAProxy, run by hostform as a stack of its own (plans.proxy),
holding one route per routed container name and one server per running container.

Its state lives in its volume, under STATE_DIR:

    routes.json   the route table hostform keeps (what was applied; read by plan and drift)
    routes.cfg    frontends and backends rendered from it (templates/haproxy-routes.cfg.j2)
    routes.map    "host/path" prefix -> backend, longest first
    tls.map       hosts with TLS (their plain HTTP is redirected)
    certs.list    one certificate per TLS host, by SNI; certs/<backend>.pem

Servers come and go through HAProxy's runtime API (add, drain, delete: no reload); a new,
changed or removed route re-renders the configuration and reloads the master-worker, whose old
worker finishes the requests it holds (no connection is refused or cut).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace

from hostform.declare import names
from hostform.declare.errors import ApplyError
from hostform.runtime.engine import Engine
from hostform.runtime.routes import Edge, EdgeView, RouteEntry, Server
from hostform.runtime.state import read_state

STATE_DIR = "/var/lib/hostform-proxy"
CONFIG_DIR = "/etc/hostform-proxy"
PROXY_SERVICE = "haproxy"  # the proxy stack's container
API_PORT = 9999
HTTP_PORT = 8080  # inside the proxy's container; `proxy up --http` publishes it
HTTPS_PORT = 8443
RELOAD_PATIENCE = 15.0


def observe_edge(engine: Engine, proxy: str) -> EdgeView:
    found = find_edge(engine, proxy)
    return EdgeView(proxy, found, live_servers(engine, found) if found is not None else {})


def find_edge(engine: Engine, proxy: str) -> Edge | None:
    """The running proxy named `proxy` with its route table; None when there is none."""
    state = read_state(engine, names.container_name(proxy, PROXY_SERVICE, 1, 1))
    if state is None or not state.running or state.labels.get(names.LABEL_STACK) != proxy:
        return None
    try:
        ports = json.loads(state.labels.get(names.LABEL_SPEC) or "{}").get("ports") or []
    except ValueError:
        ports = []
    https = any(p.get("container_port") == HTTPS_PORT for p in ports if isinstance(p, dict))
    raw = engine.read_file(state.id, f"{STATE_DIR}/routes.json")
    if not raw:
        return Edge(proxy, state.id, https)
    try:
        data = json.loads(raw)
        routes = {e.backend: e for e in (RouteEntry.of_json(x) for x in data.get("routes") or ())}
    except (ValueError, KeyError, TypeError) as exc:
        raise ApplyError(f"edge proxy {proxy}: {STATE_DIR}/routes.json cannot be read ({exc})") from None
    return Edge(proxy, state.id, https, routes, str(data.get("structure") or ""))


# ---------------------------------------------------------------- the runtime API


API_WAIT = 10.0  # seconds a refused runtime API connection is tried again


def runtime_api(engine: Engine, edge: Edge, command: str) -> str:
    """One runtime API command (several separated by ';'), through the proxy container's own shell
    (bash's /dev/tcp: both the official image and Debian's have bash, neither socat)."""
    # 97: nothing sent, the socket refused: HAProxy starting, or its worker being replaced by a reload
    script = f'exec 3<>/dev/tcp/127.0.0.1/{API_PORT} || exit 97; printf "%s\\n" "$1" >&3 && cat <&3'
    deadline = time.monotonic() + API_WAIT
    while True:
        code, out = engine.exec_run(edge.ident, ["bash", "-c", script, "-", command])
        if code != 97 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if code != 0:
        raise ApplyError(f"edge proxy {edge.proxy}: the runtime API did not answer ({out.strip()[:200]})")
    return out


def live_servers(engine: Engine, edge: Edge) -> dict[tuple[str, str], tuple[str, int]]:
    """(backend, server) -> (address, admin state) as HAProxy holds them now (`show servers state`;
    admin state 0 is ready, 1 maintenance, 8 drain)."""
    out: dict[tuple[str, str], tuple[str, int]] = {}
    for line in runtime_api(engine, edge, "show servers state").splitlines():
        parts = line.split()
        if len(parts) > 18 and not line.startswith("#") and parts[0].isdigit():
            out[(parts[1], parts[3])] = (f"{parts[4]}:{parts[18]}", int(parts[6]))
    return out


def _worker_pid(engine: Engine, edge: Edge) -> str:
    for line in runtime_api(engine, edge, "show info").splitlines():
        if line.startswith("Pid:"):
            return line.split(":", 1)[1].strip()
    return ""


def sessions(engine: Engine, edge: Edge, backend: str, server: str) -> int:
    """The requests a server holds now (`show stat`'s scur), 0 when it is gone."""
    for line in runtime_api(engine, edge, "show stat").splitlines():
        parts = line.split(",")
        if len(parts) > 4 and parts[0] == backend and parts[1] == server:
            return int(parts[4] or 0)
    return 0


def add_server(engine: Engine, edge: Edge, backend: str, server: Server) -> None:
    answer = runtime_api(
        engine, edge, f"add server {backend}/{server.name} {server.addr}; enable server {backend}/{server.name}"
    )
    if "New server registered" not in answer and "Already exists" not in answer:
        raise ApplyError(f"edge proxy {edge.proxy}: add server {backend}/{server.name}: {answer.strip()[:200]}")


def restore_server(engine: Engine, edge: Edge, backend: str, server: Server) -> None:
    """A server of the table put back as the table has it: its address, ready."""
    ip, _, port = server.addr.rpartition(":")
    where = f"{backend}/{server.name}"
    runtime_api(engine, edge, f"set server {where} addr {ip} port {port}; set server {where} state ready")


def drain_server(engine: Engine, edge: Edge, backend: str, name: str) -> None:
    runtime_api(engine, edge, f"set server {backend}/{name} state drain")


def remove_server(engine: Engine, edge: Edge, backend: str, name: str) -> None:
    """Out of the running proxy: maintenance, its last sessions ended, deleted."""
    where = f"{backend}/{name}"
    runtime_api(engine, edge, f"set server {where} state maint; shutdown sessions server {where}; del server {where}")


def wait_drained(engine: Engine, edge: Edge, backend: str, name: str, grace: float) -> None:
    """Until the server holds no request, or `grace` seconds have passed."""
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and sessions(engine, edge, backend, name) > 0:
        time.sleep(0.2)


# ---------------------------------------------------------------- the configuration


@dataclass(frozen=True)
class Rendered:
    files: dict[str, bytes]  # path -> content
    structure: str  # digest of all but the server lines


def render(edge: Edge, routes: Iterable[RouteEntry]) -> Rendered:
    import jinja2

    entries = sorted(routes, key=lambda e: e.backend)
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hostform.templates", ""),
        autoescape=False,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    tls = [e for e in entries if e.tls]
    config = env.get_template("haproxy-routes.cfg.j2").render(
        entries=entries,
        tls=bool(tls) and edge.https,
        state_dir=STATE_DIR,
        http_port=HTTP_PORT,
        https_port=HTTPS_PORT,
    )
    by_key = sorted(entries, key=lambda e: (-len(e.key), e.key))
    files = {
        f"{STATE_DIR}/routes.cfg": config.encode(),
        f"{STATE_DIR}/routes.map": "".join(f"{e.key} {e.backend}\n" for e in by_key).encode(),
        f"{STATE_DIR}/tls.map": "".join(f"{h} 1\n" for h in sorted({e.host for e in tls})).encode(),
        f"{STATE_DIR}/certs.list": "".join(f"{STATE_DIR}/certs/{e.backend}.pem {e.host}\n" for e in tls).encode(),
    }
    shape = "\n".join(line for line in config.splitlines() if not line.strip().startswith("server "))
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(path.encode() + b"\0" + (shape.encode() if path.endswith(".cfg") else files[path]) + b"\0")
    return Rendered(files, digest.hexdigest()[:16])


def table_json(routes: Iterable[RouteEntry], structure: str) -> bytes:
    data = {"routes": [e.as_json() for e in sorted(routes, key=lambda e: e.backend)], "structure": structure}
    return (json.dumps(data, indent=1, sort_keys=True) + "\n").encode()


def put_cert(engine: Engine, edge: Edge, backend: str, pem: bytes) -> None:
    engine.put_files(edge.ident, f"{STATE_DIR}/certs", {f"{backend}.pem": (pem, 0o600)})


def write_routes(engine: Engine, edge: Edge, routes: dict[str, RouteEntry], reload: bool | None = None) -> Edge:
    """The route table and its configuration written; reloaded when the routes' shape changed
    (`reload` None) or when asked. Servers are not touched here: the runtime API did that."""
    rendered = _put_rendered(engine, edge, routes)
    must_reload = rendered.structure != edge.structure if reload is None else reload
    if must_reload:
        try:
            check(engine, edge)
        except ApplyError:
            _put_rendered(engine, edge, edge.routes)  # the running configuration stays the one on disk
            raise
    new = replace(edge, routes=dict(routes), structure=rendered.structure)
    if must_reload:
        reload_proxy(engine, new)
    return new


def _put_rendered(engine: Engine, edge: Edge, routes: dict[str, RouteEntry]) -> Rendered:
    rendered = render(edge, routes.values())
    files = {path.rsplit("/", 1)[1]: (data, 0o644) for path, data in rendered.files.items()}
    files["routes.json"] = (table_json(routes.values(), rendered.structure), 0o644)
    engine.put_files(edge.ident, STATE_DIR, files)
    return rendered


def check(engine: Engine, edge: Edge) -> None:
    """HAProxy's own check of the configuration about to be loaded."""
    code, out = engine.exec_run(edge.ident, ["haproxy", "-c", "-q", *config_args()])
    if code != 0:
        raise ApplyError(f"edge proxy {edge.proxy}: the new configuration is refused: {out.strip()[:400]}")


def config_args() -> list[str]:
    return ["-f", f"{CONFIG_DIR}/haproxy.cfg", "-f", f"{STATE_DIR}/routes.cfg"]


def reload_proxy(engine: Engine, edge: Edge) -> None:
    """The master starts a new worker on the new configuration (SIGUSR2); the old one finishes what
    it holds. Returns once the runtime API answers from the new worker."""
    before = _worker_pid(engine, edge)
    engine.kill(edge.ident, "SIGUSR2")
    deadline = time.monotonic() + RELOAD_PATIENCE
    while time.monotonic() < deadline:
        time.sleep(0.1)
        try:
            if _worker_pid(engine, edge) not in ("", before):
                return
        except ApplyError:
            continue  # between the old worker's socket and the new one's
    raise ApplyError(f"edge proxy {edge.proxy}: no new worker {RELOAD_PATIENCE:.0f}s after the reload")


def container_address(engine: Engine, ident: str, network: str) -> str | None:
    info = engine.inspect_container(ident)
    endpoint = (((info or {}).get("NetworkSettings") or {}).get("Networks") or {}).get(network) or {}
    return str(endpoint.get("IPAddress") or "") or None
