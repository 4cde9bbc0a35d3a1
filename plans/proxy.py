"""`hostform proxy up | status | down`: the engine's edge proxy, itself a stack.

`up` writes the proxy's stack (one HAProxy container on its own network, a volume for its
state, its fixed configuration as a config file) into a folder and applies it with the normal
pipeline: the proxy has its own name, lock and record like any stack. `down` destroys that stack
once no route uses it; `status` shows it with its routes as HAProxy holds them now.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

from hostform.declare import names
from hostform.declare.errors import HostformError
from hostform.plans.options import EngineOptions, Exit, Options, StackOptions
from hostform.runtime import edge

DEFAULT_IMAGE = "haproxy:2.6"  # the official image; Debian's haproxy package works as well (tests)


class ProxyCommand(Options):
    action: str  # up | status | down
    engine: EngineOptions
    name: str = names.DEFAULT_PROXY
    http: str = "0.0.0.0:80"
    https: str | None = None
    image: str = DEFAULT_IMAGE
    json: bool = False
    volumes: bool = False
    lock_timeout: float = 0.0


def _address(flag: str, value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise HostformError(f"{flag} {value!r}: expected ADDRESS:PORT (e.g. 0.0.0.0:80)")
    return host.strip("[]") or "0.0.0.0", int(port)


def _toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string


def proxy_stack(o: ProxyCommand) -> str:
    """The proxy's stack file."""
    http_ip, http_port = _address("--http", o.http)
    ports = [f"{http_ip}:{http_port}:{edge.HTTP_PORT}"]
    suffix = ""
    if o.https:
        https_ip, https_port = _address("--https", o.https)
        ports.append(f"{https_ip}:{https_port}:{edge.HTTPS_PORT}")
        suffix = "" if https_port == 443 else f":{https_port}"
    state = edge.STATE_DIR
    start = (
        f"mkdir -p {state}/certs && touch {state}/routes.map {state}/tls.map {state}/certs.list"
        f" && {{ [ -s {state}/routes.cfg ] || printf 'frontend hostform-http\\n    bind :{edge.HTTP_PORT}\\n"
        f"    default_backend hostform-none\\n' >{state}/routes.cfg; }}"
        f" && exec haproxy -W -db {' '.join(edge.config_args())}"
    )
    probe = f"exec 3<>/dev/tcp/127.0.0.1/{edge.API_PORT} && echo 'show info' >&3 && cat <&3 >/dev/null"
    lines = [
        "# Written by `hostform proxy up`: the engine's edge proxy (docs/proxy.md).",
        "[stack]",
        f"name = {_toml_string(o.name)}",
        "",
        f"[networks.{names.EDGE_NETWORK}]",
        "",
        "[volumes.state]",
        "",
        "[files.haproxy]",
        'source = "haproxy.cfg"',
        "",
        f"[containers.{edge.PROXY_SERVICE}]",
        f"image = {_toml_string(o.image)}",
        'user = "root"  # the master reads certificates and the state; workers run as haproxy',
        f"command = {json.dumps(['sh', '-c', start])}",
        f'networks = ["{names.EDGE_NETWORK}"]',
        f"ports = {json.dumps(ports)}",
        f'volumes = ["state:{state}"]',
        f'files = [{{ source = "haproxy", target = "{edge.CONFIG_DIR}/haproxy.cfg" }}]',
        f"env = {{ HOSTFORM_HTTPS_SUFFIX = {_toml_string(suffix)} }}",
        'restart = "unless-stopped"',
        'stop_grace_period = "30s"',
        f'healthcheck = {{ test = {json.dumps(["CMD", "bash", "-c", probe])}, interval = "1s", retries = 30 }}',
    ]
    return "\n".join(lines) + "\n"


def base_config() -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("hostform.templates", ""), autoescape=False, keep_trailing_newline=True
    )
    return env.get_template("haproxy.cfg.j2").render(state_dir=edge.STATE_DIR, api_port=edge.API_PORT)


def _write_stack(o: ProxyCommand, folder: Path) -> StackOptions:
    if not re.fullmatch(r"[a-z0-9][a-z0-9_-]*", o.name):
        raise HostformError(f"--name {o.name!r}: a stack name (lower case letters, digits, '_' or '-')")
    (folder / "hostform.toml").write_text(proxy_stack(o), encoding="utf-8")
    (folder / "haproxy.cfg").write_text(base_config(), encoding="utf-8")
    return StackOptions(str(folder))


def cmd_proxy(o: ProxyCommand) -> int:
    if o.action == "status":
        return _status(o)
    from hostform.plans import commands
    from hostform.plans.options import ApplyCommand, DestroyCommand

    with tempfile.TemporaryDirectory(prefix="hostform-proxy-") as tmp:
        stack = _write_stack(o, Path(tmp))
        if o.action == "up":
            return commands.cmd_apply(
                ApplyCommand(stack=stack, engine=o.engine, auto_approve=True, lock_timeout=o.lock_timeout)
            )
        _refuse_while_routed(o)
        return commands.cmd_destroy(
            DestroyCommand(
                stack=stack, engine=o.engine, volumes=o.volumes, auto_approve=True, lock_timeout=o.lock_timeout
            )
        )


def _refuse_while_routed(o: ProxyCommand) -> None:
    """Containers of other stacks still on the edge network: their routes would go with the proxy."""
    from hostform.plans.commands import stage_connect
    from hostform.runtime.state import read_state

    engine = stage_connect(o.engine)
    network = names.edge_network(o.name)
    found = [n for n in engine.list_networks(names=[network]) if n.get("Name") == network]  # a name filter is a prefix
    members = engine.network_members(str(found[0]["Id"])) if found else []
    users = []
    for ident in members:
        state = read_state(engine, ident)
        if state is not None and state.labels.get(names.LABEL_STACK) != o.name:
            users.append(state.engine_name)
    if users:
        raise HostformError(
            f"edge proxy {o.name!r} still serves {', '.join(sorted(users))}: remove their routes "
            "(or destroy their stacks) first"
        )


def _status(o: ProxyCommand) -> int:
    from hostform.declare.secrets import mask_secrets
    from hostform.plans.commands import stage_connect

    engine = stage_connect(o.engine)
    found = edge.find_edge(engine, o.name)
    if found is None:
        if o.json:
            print(json.dumps({"proxy": o.name, "running": False}))
        else:
            print(f"edge proxy {o.name!r}: not running (`hostform proxy up --name {o.name}`)")
        return Exit.CHANGES
    live = edge.live_servers(engine, found)
    states = {0: "ready", 1: "maintenance", 8: "drain"}
    routes = [
        {
            **entry.as_json(),
            "servers": [
                {
                    "name": s.name,
                    "addr": s.addr,
                    "state": states.get(live[(entry.backend, s.name)][1], "other")
                    if (entry.backend, s.name) in live
                    else "missing",
                }
                for s in entry.servers
            ],
        }
        for entry in sorted(found.routes.values(), key=lambda e: e.backend)
    ]
    if o.json:
        print(json.dumps({"proxy": o.name, "running": True, "https": found.https, "routes": routes}, indent=2))
        return Exit.OK
    print(f"edge proxy {o.name!r}: running ({found.ident[:12]}), network {found.network}, https: {found.https}")
    for r in routes:
        tls = " (tls)" if r["tls"] else ""
        line = f"  {r['host']}{r['path']}{tls} -> {r['stack']}.{r['name']}:{r['port']}"
        servers = ", ".join(f"{s['name']} {s['addr']} {s['state']}" for s in r["servers"]) or "no servers"
        print(mask_secrets(f"{line}  [{servers}]"))
    if not routes:
        print("  no routes")
    sys.stdout.flush()
    return Exit.OK
