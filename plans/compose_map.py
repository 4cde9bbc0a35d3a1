"""A Compose project mapped onto the stack format, key by key.

Every Compose key is either mapped or left out with a `Skipped` entry naming the
reason and the nearest hostform way; nothing is dropped silently. Values keep
their `Interpolated` form, so the writer can put the template back.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostform.declare.compose import ComposeProject, Interpolated, Source, secret_variable
from hostform.declare.errors import Problem, StackError
from hostform.declare.secrets import SECRET_WORDS
from hostform.declare.spec import HOST_SETTINGS

# Compose keys hostform has no field for: the nearest way to get the same effect.
NEAREST: dict[str, str] = {
    "expose": "not needed: containers on a stack network reach each other's ports; `ports` publishes on the host",
    "links": "not needed: containers reach each other by name on the stack's networks (add aliases)",
    "external_links": "not needed: containers reach each other by name on shared networks",
    "dns_opt": "not supported; set it for the engine (daemon.json dns-opts)",
    "tty": "not supported; a container's log is its output",
    "stdin_open": "not supported",
    "volumes_from": "not supported; mount the same named volumes",
    "domainname": "not supported; `hostname` sets the host name",
    "cpu_shares": "not supported; `cpus` limits CPU",
    "cpu_quota": "not supported; `cpus` limits CPU",
    "cpu_period": "not supported; `cpus` limits CPU",
    "cpuset": "not supported; `cpus` limits CPU",
    "cpu_count": "not supported; `cpus` limits CPU",
    "memswap_limit": "not supported; `memory` limits memory",
    "mem_swappiness": "not supported; `memory` limits memory",
    "oom_score_adj": "not supported",
    "oom_kill_disable": "not supported",
    "cgroup_parent": "not supported",
    "isolation": "not supported",
    "userns_mode": "not supported",
    "runtime": "not supported; the engine's default runtime runs it",
    "storage_opt": "not supported",
    "blkio_config": "not supported",
    "attach": "not needed: `hostform apply` does not attach to logs",
    "develop": "not supported; hostform runs images",
    "container_name": "hostform names this container <name>; `hostform adopt` renames a running one in place",
}


@dataclass(frozen=True)
class Skipped:
    key: str  # services.web.privileged
    source: Source | None
    reason: str

    def __str__(self) -> str:
        where = f" ({self.source})" if self.source else ""
        return f"{self.key}{where}: {self.reason}"


@dataclass
class MappedStack:
    """The stack as tables of plain values, and what was left out; `sources` say where each key came from."""

    name: str
    variables: dict[str, str]
    target: str = "host"
    networks: dict[str, dict[str, Any]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)
    sources: dict[tuple[str, ...], Source] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    secrets: dict[str, str] = field(default_factory=dict)  # secret name -> what to set
    secret_files: dict[str, str] = field(default_factory=dict)  # secret name -> its file, in the stack's folder
    kept_volumes: list[str] = field(default_factory=list)  # Compose's volumes used as they are (external)
    kept_plain: list[str] = field(default_factory=list)  # values kept plain although their names look secret
    plain_env: list[str] = field(default_factory=list)  # [stack] env: variables passed through (`- KEY`)
    files_read: tuple[str, ...] = ()  # the Compose files, as errors name them


class Unsupported(Exception):
    """A key (or a part of one) hostform cannot express: the message is the reason and the nearest way."""


class Invalid(Exception):
    """A value of the right type that means nothing (cpus: "lots"): the import stops, naming the key."""


@dataclass
class _Mapper:
    project: ComposeProject
    out_dir: Path
    stack: MappedStack
    net_keys: dict[str, str] = field(default_factory=dict)  # compose network key -> stack key
    vol_keys: dict[str, str] = field(default_factory=dict)
    secret_names: dict[str, str] = field(default_factory=dict)  # compose secret key -> the secret's name
    existing_volumes: bool = False
    swarm: bool = False
    namespace_deps: dict[str, list[str]] = field(default_factory=dict)  # service -> services whose namespace it joins

    def secret(self, var: str, path: tuple[str, ...], why: str) -> None:
        """A secret the stack reads: the header says what to set, and why it is one."""
        self.stack.secrets.setdefault(
            var, f"set {var} (or {var}_FILE) when you plan and apply ({'.'.join(path)}: {why})"
        )

    def secret_env(self, path: tuple[str, ...], key: str, why: str) -> Interpolated:
        var = template_name(key)
        if var != key:
            why += f"; read as secret('{var}'), the key's letters, digits and '_'"
        self.secret(var, path, why)
        return _secret(var)

    def fail(self, path: tuple[str, ...], message: str) -> StackError:
        source = self.project.source(path)
        shown = source.file if source else self.project.files[0]
        return StackError([Problem(shown, ".".join(path), message, source.line if source else None)])

    def skip(self, path: tuple[str, ...], reason: str) -> None:
        self.stack.skipped.append(Skipped(".".join(path), self.project.source(path), reason))

    def path(self, value: str) -> str:
        """A host path as the stack file names it: relative to it when inside its folder."""
        rel = os.path.relpath(value, self.out_dir)
        return value if rel.startswith("..") else f"./{rel}" if rel != "." else "."

    # ------------------------------------------------------------ top level

    def networks(self) -> None:
        for key, spec in self.project.networks.items():
            path = ("networks", key)
            out: dict[str, Any] = {}
            name = spec.get("name")
            external = spec.get("external")
            if isinstance(external, dict):  # the old form: external: { name: x }
                name = external.get("name", name)
                external = True
            if external:
                target = str(name or key)
                self.net_keys[key] = target
                self.stack.networks[target] = {"external": True}
                self.stack.sources[("networks", target)] = self.project.source(path) or Source("", 0)
                continue
            self.net_keys[key] = key
            for k, v in spec.items():
                self._network_key(path, k, v, out)
            self.stack.networks[key] = out
            self.stack.sources[("networks", key)] = self.project.source(path) or Source("", 0)

    def _network_key(self, path: tuple[str, ...], k: str, v: Any, out: dict[str, Any]) -> None:
        if self.swarm and k == "driver" and v == "bridge":
            self.skip((*path, k), "a bridge cannot span nodes: Swarm's networks are overlay")
        elif k in ("driver", "internal", "attachable", "labels"):
            out[k] = _labels(v) if k == "labels" else v
        elif k == "driver_opts":
            out["options"] = {str(a): str(b) for a, b in (v or {}).items()}
        elif k == "ipam" and isinstance(v, dict):
            configs = v.get("config") or []
            if configs and isinstance(configs[0], dict):
                for field_ in ("subnet", "gateway"):
                    if field_ in configs[0]:
                        out[field_] = configs[0][field_]
            rest = [k2 for k2 in v if k2 != "config"] + (["config[1:]"] if len(configs) > 1 else [])
            if rest or any(set(c) - {"subnet", "gateway"} for c in configs[:1] if isinstance(c, dict)):
                self.skip((*path, "ipam"), "only the first subnet and gateway are kept; hostform has one of each")
        elif k == "name":
            self.skip((*path, k), f"hostform names networks <stack>_<key> ({self.stack.name}_{path[-1]})")
        else:
            self.skip((*path, k), "not supported for networks")

    def volumes(self) -> None:
        for key, spec in self.project.volumes.items():
            path = ("volumes", key)
            name = spec.get("name")
            external = spec.get("external")
            if isinstance(external, dict):
                name = external.get("name", name)
                external = True
            if self.existing_volumes and not external:
                # the volume Compose made (`<project>_<key>`, or its `name`), used as it is: its data stays
                name, external = name or f"{self.project.name}_{key}", True
                self.stack.kept_volumes.append(str(name))
            target = str(name or key) if external else key
            self.vol_keys[key] = target
            out: dict[str, Any] = {"external": True} if external else {}
            for k, v in spec.items():
                if external or k == "external":
                    continue
                if k in ("driver", "driver_opts", "labels"):
                    out[k] = _labels(v) if k != "driver" else v
                elif k == "name":
                    self.skip(
                        (*path, k),
                        f"hostform names volumes <stack>_<key> ({self.stack.name}_{key}); "
                        "to keep using this one, declare it `external = true` under its name",
                    )
                else:
                    self.skip((*path, k), "not supported for volumes")
            self.stack.volumes[target] = out
            self.stack.sources[("volumes", target)] = self.project.source(path) or Source("", 0)

    def files(self) -> None:
        """Configs become [files]; a file or environment secret is a secret's name, which the
        services' `secrets = [{ source, target }]` entries read (no [files] entry of its own)."""
        for key, spec in self.project.secrets.items():
            self._secret(key, spec, ("secrets", key))
        for key, spec in self.project.configs.items():
            path = ("configs", key)
            out = self._file(key, spec, path)
            if out is not None:
                self.stack.files[key] = out
                self.stack.sources[("files", key)] = self.project.source(path) or Source("", 0)

    def _secret(self, key: str, spec: dict[str, Any], path: tuple[str, ...]) -> None:
        name = str(spec.get("environment") or re.sub(r"[^A-Z0-9_]", "_", key.upper()))
        where = self.path(str(spec["file"])) if "file" in spec else ""
        if where and not os.path.isabs(where):  # inside the stack's folder: [secrets.NAME] file, nothing to set
            self.stack.secret_files[name] = where
            self.stack.sources[("secrets", name)] = self.project.source(path) or Source("", 0)
        elif where:
            self.stack.secrets[name] = f"set {name}_FILE={where} (or {name}) when you plan and apply"
        elif "environment" in spec:
            self.stack.secrets[name] = f"set {name} (or {name}_FILE) when you plan and apply"
        else:
            self.skip(path, "external secrets are Swarm's; give the value as a secret() from the environment")
            return
        self.secret_names[key] = name

    def _file(self, key: str, spec: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any] | None:
        if "file" in spec:
            return {"source": self.path(str(spec["file"]))}
        if "content" in spec:
            return {"content": spec["content"]}
        if "environment" in spec:
            var = template_name(str(spec["environment"]))
            value = os.environ.get(str(spec["environment"]), "")
            self.stack.variables.setdefault(var, value)
            return {"content": Interpolated(value, "{{ vars." + var + " }}", (var,), False)}
        self.skip(path, "external configs are Swarm's; give a file, content or template")
        return None

    # ------------------------------------------------------------ services

    def services(self) -> None:
        one_shot = {
            dep
            for spec in self.project.services.values()
            for dep, cond in (spec.get("depends_on") or {}).items()
            if isinstance(cond, dict) and cond.get("condition") == "service_completed_successfully"
        }
        for name, reason in self.project.skipped.items():
            self.skip(("services", name), f"left out: {reason}")
        for name, spec in self.project.services.items():
            is_job = name in one_shot
            out = self.service(name, spec, is_job)
            (self.stack.jobs if is_job else self.stack.containers)[name] = out
            kind = "jobs" if is_job else "containers"
            self.stack.sources[(kind, name)] = self.project.source(("services", name)) or Source("", 0)
            for key in out:
                src = self.project.source(("services", name, _compose_key(key, spec)))
                if src:
                    self.stack.sources[(kind, name, key)] = src

    def service(self, name: str, spec: dict[str, Any], is_job: bool) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in spec.items():
            path = ("services", name, key)
            handler = _HANDLERS.get(key)
            try:
                if handler is not None:
                    handler(self, name, value, out)
                elif key.startswith("x-") or key in ("profiles", "extends"):
                    continue
                elif key in NEAREST and value in (False, None, [], {}):
                    continue  # the default: nothing to carry over
                elif key in NEAREST:
                    raise Unsupported(NEAREST[key].replace("<name>", f"{self.stack.name}-{name}"))
                else:
                    raise Unsupported("not supported")
            except Unsupported as exc:
                self.skip(path, str(exc))
            except Invalid as exc:
                raise self.fail(path, str(exc)) from None
            except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
                # a shape declare.compose_shape lets through that this key's handler cannot read
                raise self.fail(path, "this value cannot be read as Compose's specification describes the key") from exc
        for other in self.namespace_deps.get(name, []):
            out.setdefault("depends_on", {}).setdefault(other, "started")
        for key in [k for k, v in out.items() if v is None]:
            out.pop(key)  # `command: null` and the like: Compose's "not set"
        for key in [k for k in out if k != "env"]:
            held = _secret_names(out[key])
            if held:
                out.pop(key)
                self.skip(
                    ("services", name, _compose_key(key, spec)),
                    f"holds the secret ${{{held[0]}}}: secrets go only into env values and file contents "
                    "(pass it through env)",
                )
        if "build" in out and ":" in out.get("image", "").rsplit("/", 1)[-1]:
            repository = out["image"].rsplit(":", 1)[0]
            self.skip(("services", name, "image"), f"built images are tagged by their content: {repository}:<digest>")
            out["image"] = repository
        elif "image" not in out and "build" not in out:
            self.skip(("services", name), "has neither image nor build")
        if self.swarm:
            self._on_swarm(name, out)
        elif (out.get("update") or {}).get("order") == "start-first" and any(map(_fixed_port, out.get("ports", []))):
            out["update"].pop("order")
            out["update"] or out.pop("update")
            self.skip(
                ("services", name, "deploy", "update_config", "order"),
                "start-first on one host needs a container without fixed host ports: stop-first is kept",
            )
        if is_job:
            for key in ("restart", "replicas"):
                if key in out and out[key] not in ("no", 1):
                    self.skip(("services", name, key), f"{name} runs once (others wait for it to complete): a job")
                out.pop(key, None)
        return out

    def _on_swarm(self, name: str, out: dict[str, Any]) -> None:
        """What one host honours and Swarm cannot: the nearest Swarm way, said."""
        if "memory_reservation" in out:
            out.setdefault("reservations", {}).setdefault("memory", out.pop("memory_reservation"))
        for key in [k for k in HOST_SETTINGS if k in out]:
            out.pop(key)
            self.skip(
                ("services", name, _compose_key(key, {})),
                "a host setting hostform sets on one engine's containers only: not on Swarm services",
            )
        for dep, cond in (out.get("depends_on") or {}).items():
            if cond == "healthy":
                out["depends_on"][dep] = "started"
                self.skip(("services", name, "depends_on", dep), "Swarm orders nothing by health: 'started'")
        if any(_host_ip(p) for p in out.get("ports", [])):
            out["ports"] = [_without_host_ip(p) for p in out["ports"]]
            self.skip(("services", name, "ports"), "Swarm publishes on every node: the host addresses are left out")
        if "build" in out:
            out.pop("build")
            self.skip(
                ("services", name, "build"), "not built on Swarm: push the image to a registry every node reaches"
            )


def _secret_names(value: Any) -> list[str]:
    if isinstance(value, Interpolated) and value.secret:
        return [n for n in value.names if secret_variable(n)]
    if isinstance(value, dict):
        return [n for v in value.values() for n in _secret_names(v)]
    if isinstance(value, list):
        return [n for v in value for n in _secret_names(v)]
    return []


def _fixed_port(port: Any) -> bool:
    if isinstance(port, dict):
        return port.get("published") not in (None, "")
    parts = str(port).split("/")[0].split(":")
    return len(parts) >= 2 and parts[-2] != ""


def _host_ip(port: Any) -> str:
    if isinstance(port, dict):
        return str(port.get("host_ip") or "")
    parts = str(port).split(":")
    if isinstance(port, Interpolated) and len(port.template.split(":")) != 3:
        return ""  # the address itself comes from a variable: left for the loader to name
    return parts[0] if len(parts) == 3 else ""


def _without_host_ip(port: Any) -> Any:
    if isinstance(port, dict):
        return {k: v for k, v in port.items() if k != "host_ip"}
    if not _host_ip(port):
        return port
    rest = ":".join(str(port).split(":")[1:])
    if isinstance(port, Interpolated):
        return Interpolated(rest, ":".join(port.template.split(":")[1:]), port.names, port.secret)
    return rest


# ---------------------------------------------------------------- service keys


def _labels(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        value = dict(str(v).partition("=")[::2] for v in value)
    return {str(k): "" if v is None else (v if isinstance(v, str) else str(v)) for k, v in (value or {}).items()}


def _compose_key(key: str, spec: dict[str, Any]) -> str:
    """The Compose key a stack key came from (for its source line)."""
    back = {
        "env": "environment",
        "memory": "mem_limit" if "mem_limit" in spec else "deploy",
        "memory_reservation": "mem_reservation" if "mem_reservation" in spec else "deploy",
        "cpus": "cpus" if "cpus" in spec else "deploy",
        "pids_limit": "pids_limit" if "pids_limit" in spec else "deploy",
        "replicas": "scale" if "scale" in spec else "deploy",
        "update": "deploy",
        "rollback": "deploy",
        "placement": "deploy",
        "reservations": "deploy",
        "global": "deploy",
        "endpoint_mode": "deploy",
        "pull": "pull_policy",
        "files": "configs",
        "gpus": "deploy",
    }
    return back.get(key, key)


def _direct(stack_key: str) -> Callable[[_Mapper, str, Any, dict[str, Any]], None]:
    def handler(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
        out[stack_key] = value

    return handler


def _image(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    out["image"] = str(value)


def _build(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    spec = value if isinstance(value, dict) else {"context": value}
    build: dict[str, Any] = {"context": m.path(str(spec.get("context", ".")))}
    for k, v in spec.items():
        if k in ("dockerfile", "target"):
            build[k] = str(v)
        elif k == "args":
            build[k] = {a: "" if b is None else b for a, b in _labels(v).items()}
        elif k != "context":
            m.skip(("services", name, "build", k), "not supported; builds take context, dockerfile, args, target")
    out["build"] = build


def _environment(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    env: dict[str, Any] = {}
    for key, val in (value or {}).items():
        key = str(key)
        path = ("services", name, "environment", key)
        if val is None:  # `- KEY` alone: the value is the environment's where Compose runs
            env[key] = _passed_through(m, path, key)
            continue
        text = "true" if val is True else "false" if val is False else str(val) if not isinstance(val, str) else val
        if isinstance(val, Interpolated) and val.secret:
            for n in val.names:
                if secret_variable(n):
                    m.secret(n, path, f"${{{n}}} is read in it and its name holds {_secret_word(n)}")
            env[key] = val
        elif isinstance(val, Interpolated):
            env[key] = val
        elif (why := _why_secret(key, val)) is not None:
            env[key] = m.secret_env(path, key, why)
        else:
            _note_plain(m, path, key, val)
            env[key] = text
    out["env"] = env


def _passed_through(m: _Mapper, path: tuple[str, ...], key: str) -> Any:
    """`- KEY`: passed through from where hostform plans, as Compose passes it from where it runs:
    read at plan time, never frozen at import (a secret by its name, else `env()` declared in
    [stack] env; unset, it is empty, where Compose leaves it out)."""
    if secret_variable(key):
        return m.secret_env(path, key, f"its name holds {_secret_word(key)}")
    var = template_name(key)
    if var not in m.stack.plain_env:
        m.stack.plain_env.append(var)
    return Interpolated("", "{{ env('" + var + "', default='') }}", (), False)


_PLAIN_WORDS = frozenset({"true", "false", "yes", "no", "on", "off", "none", "null", ""})
_PATH = re.compile(r"(?:/|\./|\.\./|~/)[\w.@%+=,:/-]*")
_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/@?#\s]+(?:/[^?#\s]*)?", re.IGNORECASE)


def visibly_plain(value: Any) -> str | None:
    """Why a literal value is visibly no secret: a number, a truth value, a path, a URL without
    credentials or query. None: it may be one."""
    if isinstance(value, bool) or str(value).lower() in _PLAIN_WORDS:
        return "a truth value or empty"
    if isinstance(value, int | float) or re.fullmatch(r"-?[0-9]{1,6}(?:\.[0-9]+)?", str(value)):
        return "a number"
    text = str(value)
    if _PATH.fullmatch(text) and "/" in text.lstrip("/~."):
        return "a path"
    if _PATH.fullmatch(text) and text.count("/") == 1 and len(text) <= 24:
        return "a path"
    if _URL.fullmatch(text):
        return "a URL without credentials"
    return None


_URL_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@", re.IGNORECASE)


def _why_secret(key: str, value: Any) -> str | None:
    """Why a literal environment value becomes a secret, or None: it stays a plain value."""
    if isinstance(value, str) and _URL_PASSWORD.match(value):
        return "its value is a URL with a password in it"
    if not secret_variable(key):
        return None
    if visibly_plain(value) is not None:
        return None
    return f"its name holds {_secret_word(key)}"


def _note_plain(m: _Mapper, path: tuple[str, ...], key: str, value: Any) -> None:
    """A name that looks secret whose value stays plain: said, so a reviewer can check it."""
    if not is_secret_looking(key):
        return
    if key.upper().endswith("_FILE"):
        m.stack.kept_plain.append(f"{'.'.join(path)}: names a file the program reads (…_FILE): a path, kept as it is")
    elif (kind := visibly_plain(value)) is not None:
        m.stack.kept_plain.append(f"{'.'.join(path)}: its value is {kind}, kept as it is")


def is_secret_looking(name: str) -> bool:
    return _secret_word(name) != ""


def _secret_word(name: str) -> str:
    upper = name.upper()
    return next((w for w in SECRET_WORDS if w in upper), "")


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def template_name(key: str) -> str:
    """A name as a template reads it (`secret('NAME')`, `vars.NAME`): letters, digits and '_'.
    A Compose key may hold anything but '='; anything else becomes '_', so the template can
    only ever name that one variable (the notes name it as written)."""
    if _IDENTIFIER.fullmatch(key):
        return key
    name = re.sub(r"[^A-Za-z0-9_]", "_", key)
    return name if _IDENTIFIER.fullmatch(name) else f"_{name}"


def _secret(name: str) -> Interpolated:
    return Interpolated("", "{{ secret('" + template_name(name) + "') }}", (template_name(name),), True)


def _env_file(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    files = []
    for entry in value if isinstance(value, list) else [value]:
        path = entry.get("path") if isinstance(entry, dict) else entry
        files.append(m.path(str(path)))
    out["env_file"] = files


def _ports(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    ports: list[Any] = []
    for entry in value or []:
        if isinstance(entry, dict):
            keys = ("target", "published", "host_ip", "protocol", *(("mode",) if m.swarm else ()))
            port = {k: entry[k] for k in keys if k in entry}
            for k in sorted(set(entry) - set(port) - {"mode", "name", "app_protocol"}):
                m.skip(("services", name, "ports"), f"port key {k!r} is not supported")
            ports.append(port)
        elif isinstance(entry, str) and "-" in entry and not isinstance(entry, Interpolated):
            ports.extend(_port_range(entry))
        else:
            ports.append(entry)
    out["ports"] = ports


def _port_range(entry: str) -> list[str]:
    """`8000-8001:80-81` is one port each for hostform."""
    ctr, _, proto = entry.partition("/")
    parts = ctr.split(":")
    ip, host = (parts[0], parts[1]) if len(parts) == 3 else ("", parts[0]) if len(parts) == 2 else ("", "")
    try:
        ctrs = [int(p) for p in parts[-1].split("-")]
        hosts = [int(p) for p in host.split("-")] if host else []
    except ValueError:
        return [entry]  # the loader names what is wrong with it
    suffix = f"/{proto}" if proto else ""
    out = []
    for i, port in enumerate(range(ctrs[0], ctrs[-1] + 1)):
        published = str(hosts[0] + i) if hosts else ""
        out.append(
            f"{ip}:{published}:{port}{suffix}"
            if ip
            else f"{published}:{port}{suffix}"
            if published
            else f"{port}{suffix}"
        )
    return out


def _volumes(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    mounts: list[Any] = []
    for i, entry in enumerate(value or []):
        try:
            mount = _mount(m, entry)
        except Unsupported as exc:
            m.skip(("services", name, "volumes", str(i)), str(exc))
            continue
        if isinstance(mount, dict) and mount.get("type") == "tmpfs":
            out.setdefault("tmpfs", []).append(mount["target"])
        else:
            mounts.append(mount)
    if mounts:
        out["volumes"] = mounts


def _mount(m: _Mapper, entry: Any) -> Any:
    if isinstance(entry, dict):
        kind = entry.get("type", "volume")
        if kind == "tmpfs":
            size = (entry.get("tmpfs") or {}).get("size")
            return {"type": "tmpfs", "target": f"{entry['target']}:size={size}" if size else entry["target"]}
        if kind not in ("volume", "bind") or not entry.get("source"):
            raise Unsupported("an anonymous or non-volume mount; declare a named volume and mount it")
        source = str(entry["source"])
        source = m.path(source) if kind == "bind" else m.vol_keys.get(source, source)
        mount: dict[str, Any] = {"source": source, "target": entry["target"]}
        if kind == "bind":
            mount["type"] = "bind"
        if entry.get("read_only"):
            mount["read_only"] = True
        return mount
    parts = str(entry).split(":")
    if len(parts) == 1:
        raise Unsupported(f"anonymous volume {entry!r}; declare a named volume and mount it")
    source, target = parts[0], parts[1]
    modes = [p for p in ",".join(parts[2:]).split(",") if p]
    extra = [p for p in modes if p not in ("ro", "rw")]
    mode = ":ro" if "ro" in modes else ""
    if source.startswith(("/", ".", "~")):
        source = m.path(source)
        if not source.startswith(("/", ".")):
            source = f"./{source}"
    else:
        source = m.vol_keys.get(source, source)
    if extra:
        m.stack.skipped.append(Skipped(f"volume {entry}", None, f"mount options {extra} are not kept"))
    return f"{source}:{target}{mode}"


def _tmpfs(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    out.setdefault("tmpfs", []).extend(value if isinstance(value, list) else [value])


def _networks(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    nets: dict[str, Any] = {}
    for net, spec in (value or {}).items():
        key = m.net_keys.get(net, net)
        table: dict[str, Any] = {}
        for k, v in (spec or {}).items():
            if k == "aliases":
                table["aliases"] = list(v)
            else:
                m.skip(("services", name, "networks", net, k), "not supported; the engine assigns addresses")
        nets[key] = table
    if any(nets.values()):
        out["networks"] = nets
    else:
        out["networks"] = list(nets)


def _depends_on(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    deps: dict[str, str] = {}
    for dep, spec in (value or {}).items():
        if dep in m.project.skipped:
            m.skip(("services", name, "depends_on", dep), f"{dep} is left out ({m.project.skipped[dep]})")
            continue
        cond = (spec or {}).get("condition", "service_started")
        deps[dep] = str(cond).removeprefix("service_").replace("completed_successfully", "completed")
        for k in sorted(set(spec or {}) - {"condition"}):
            m.skip(("services", name, "depends_on", dep, k), "not supported; hostform waits for the condition only")
    out["depends_on"] = deps


def _healthcheck(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    spec = dict(value or {})
    test = spec.get("test")
    if spec.get("disable") or test == ["NONE"] or test == "NONE":
        out["healthcheck"] = {"disable": True}
        return
    hc: dict[str, Any] = {}
    for k, v in spec.items():
        if k in ("test", "interval", "timeout", "retries", "start_period"):
            hc[k] = v
        else:
            m.skip(("services", name, "healthcheck", k), "not supported")
    out["healthcheck"] = hc


def _restart(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    out["restart"] = "no" if value is False else str(value)


SWARM_HINT = "a Swarm setting: import with --on swarm"
_UPDATE_KEYS = ("order", "parallelism", "delay", "failure_action", "monitor", "max_failure_ratio")


def _deploy(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    path = ("services", name, "deploy")
    swarm = m.swarm
    for k, v in (value or {}).items():
        if k == "replicas":
            out["replicas"] = v
        elif k == "resources":
            _resources(m, path, v or {}, out)
        elif (k == "update_config" or (swarm and k == "rollback_config")) and isinstance(v, dict):
            table = {key: v[key] for key in _UPDATE_KEYS if key in v and (swarm or key == "order")}
            if table:
                out["update" if k == "update_config" else "rollback"] = table
            for rest in sorted(set(v) - set(table)):
                m.skip((*path, k, rest), SWARM_HINT if rest in _UPDATE_KEYS else "not supported")
        elif k == "restart_policy" and isinstance(v, dict) and "restart" not in out:
            cond = {"none": "no", "any": "always", "on-failure": "on-failure"}.get(str(v.get("condition", "any")))
            attempts = v.get("max_attempts")
            out["restart"] = f"on-failure:{attempts}" if cond == "on-failure" and attempts else cond
        elif swarm and k == "placement" and isinstance(v, dict):
            _placement(m, path, v, out)
        elif swarm and k == "mode" and v in ("global", "replicated"):
            if v == "global":
                out["global"] = True
        elif swarm and k == "endpoint_mode":
            out["endpoint_mode"] = v
        elif k in ("placement", "mode", "endpoint_mode", "rollback_config"):
            m.skip((*path, k), SWARM_HINT)
        else:
            m.skip((*path, k), "not supported")


def _placement(m: _Mapper, path: tuple[str, ...], value: dict[str, Any], out: dict[str, Any]) -> None:
    table: dict[str, Any] = {}
    for k, v in value.items():
        if k == "constraints":
            table[k] = list(v or [])
        elif k == "preferences":
            table[k] = [{"spread": p["spread"]} for p in v or [] if isinstance(p, dict) and "spread" in p]
        elif k == "max_replicas_per_node":
            table[k] = v
        else:
            m.skip((*path, "placement", k), "not supported")
    out["placement"] = table


def _resources(m: _Mapper, path: tuple[str, ...], value: dict[str, Any], out: dict[str, Any]) -> None:
    keys = {("limits", "memory"): "memory", ("limits", "cpus"): "cpus", ("limits", "pids"): "pids_limit"}
    for section, spec in value.items():
        for k, v in (spec or {}).items():
            target = keys.get((section, k))
            if section == "reservations" and k == "devices":
                _gpus(m, (*path, "resources", "reservations"), list(v or []), out)
            elif section == "reservations" and k in ("memory", "cpus") and m.swarm:
                out.setdefault("reservations", {})[k] = _number(k, v) if k == "cpus" else v
            elif section == "reservations" and k == "memory":
                out["memory_reservation"] = v
            elif target is None:
                reason = SWARM_HINT if (section, k) == ("reservations", "cpus") else "not supported"
                m.skip((*path, "resources", section, k), reason)
            else:
                out[target] = _number(k, v) if target == "cpus" else v


def _files(kind: str) -> Callable[[_Mapper, str, Any, dict[str, Any]], None]:
    """A service's `configs` become `files` entries; its `secrets` become `secrets` entries naming
    the secret (the target written out: Compose's default is the key's name, hostform's the secret's)."""

    def handler(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
        for entry in value or []:
            spec = {"source": entry} if isinstance(entry, str) else dict(entry)
            source = str(spec["source"])
            default = f"/run/secrets/{source}" if kind == "secrets" else f"/{source}"
            target = str(spec.get("target") or default)
            if kind == "secrets" and not target.startswith("/"):
                target = f"/run/secrets/{target}"
            if kind == "secrets" and source not in m.secret_names:
                m.skip(("services", name, kind, source), f"secret {source!r} is not imported (see secrets.{source})")
                continue
            mount: dict[str, Any] = {"source": m.secret_names[source] if kind == "secrets" else source}
            mount["target"] = target
            if "mode" in spec:
                mode = spec["mode"]
                mount["mode"] = format(mode, "04o") if isinstance(mode, int) else str(mode)
            for k in sorted(set(spec) - {"source", "target", "mode"}):
                m.skip(("services", name, kind, source, k), "not supported; files are owned by root")
            out.setdefault("files" if kind == "configs" else "secrets", []).append(mount)

    return handler


def _scale(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    out["replicas"] = value


def _pull_policy(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    policy = {"always": "always", "missing": "missing", "if_not_present": "missing", "never": "never"}.get(str(value))
    if policy is None:
        raise Unsupported(f'pull_policy {value!r}: hostform pulls (`pull = "missing"|"always"|"never"`), never builds')
    out["pull"] = policy


def _number(key: str, value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Invalid(f"{key} {shown_value(value)} is not a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise Invalid(f"{key} {shown_value(value)} is not a number")
    return number


def shown_value(value: Any) -> str:
    """A Compose value for an error message: one that came from a secret's variable is never shown."""
    if isinstance(value, Interpolated) and value.secret:
        return f"(from ${{{value.names[0]}}})"
    return repr(value)[:60]


def _float(stack_key: str) -> Callable[[_Mapper, str, Any, dict[str, Any]], None]:
    def handler(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
        out[stack_key] = _number(stack_key, value)

    return handler


def _network_mode(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    """service:NAME starts after NAME, as Compose orders it."""
    out["network_mode"] = value
    kind, _, other = str(value).partition(":")
    if kind == "service":
        m.namespace_deps.setdefault(name, []).append(other)


def _logging(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    spec = dict(value or {})
    if "driver" not in spec:
        if spec.get("options"):
            raise Unsupported("options without a driver: hostform sets both (the engine's default driver is json-file)")
        return
    table: dict[str, Any] = {"driver": spec["driver"]}
    options = {
        str(k): "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in (spec.get("options") or {}).items()
    }
    if options:
        table["options"] = options
    out["logging"] = table


def _gpus(m: _Mapper, path: tuple[str, ...], devices: list[Any], out: dict[str, Any]) -> None:
    """Compose's GPU reservations (deploy.resources.reservations.devices) as `gpus`."""
    for i, device in enumerate(devices):
        here = (*path, "devices", str(i))
        if "gpu" not in (device.get("capabilities") or []):
            m.skip(here, "only GPU reservations (capabilities: [gpu]) are supported: `gpus`")
            continue
        if device.get("device_ids"):
            m.skip(here, "device_ids are not supported: `gpus` takes 'all' or a count")
            continue
        count = device.get("count", "all")
        out["gpus"] = "all" if count in ("all", -1) else count
        for k in sorted(set(device) - {"capabilities", "count"}):
            m.skip((*here, k), "not supported; `gpus` takes 'all' or a count")


def _labels_key(m: _Mapper, name: str, value: Any, out: dict[str, Any]) -> None:
    out["labels"] = _labels(value)


_HANDLERS: dict[str, Callable[[_Mapper, str, Any, dict[str, Any]], None]] = {
    "image": _image,
    "build": _build,
    "command": _direct("command"),
    "entrypoint": _direct("entrypoint"),
    "environment": _environment,
    "env_file": _env_file,
    "ports": _ports,
    "volumes": _volumes,
    "tmpfs": _tmpfs,
    "networks": _networks,
    "depends_on": _depends_on,
    "healthcheck": _healthcheck,
    "restart": _restart,
    "deploy": _deploy,
    "labels": _labels_key,
    "user": _direct("user"),
    "working_dir": _direct("working_dir"),
    "hostname": _direct("hostname"),
    "cap_add": _direct("cap_add"),
    "cap_drop": _direct("cap_drop"),
    "read_only": _direct("read_only"),
    "stop_signal": _direct("stop_signal"),
    "stop_grace_period": _direct("stop_grace_period"),
    "extra_hosts": _direct("extra_hosts"),
    "mem_limit": _direct("memory"),
    "mem_reservation": _direct("memory_reservation"),
    "cpus": _float("cpus"),
    "pids_limit": _direct("pids_limit"),
    "configs": _files("configs"),
    "secrets": _files("secrets"),
    "scale": _scale,
    "pull_policy": _pull_policy,
    **{
        key: _direct(key)
        for key in (
            *("privileged", "init", "devices", "shm_size", "ulimits", "sysctls", "security_opt", "group_add"),
            *("ipc", "pid", "dns", "dns_search", "platform", "mac_address"),
        )
    },
    "network_mode": _network_mode,
    "logging": _logging,
}


def map_project(
    project: ComposeProject, out_dir: Path, existing_volumes: bool = False, target: str = "host"
) -> MappedStack:
    """existing_volumes: the project's named volumes are used by the names Compose gave them;
    target: "swarm" maps deploy's Swarm settings (placement, reservations, rolling updates)."""
    stack = MappedStack(name=project.name, variables=dict(project.variables), target=target)
    stack.files_read = tuple(Path(f).name for f in project.files)
    mapper = _Mapper(project, out_dir.resolve(), stack, existing_volumes=existing_volumes, swarm=target == "swarm")
    for section, step in (
        ("networks", mapper.networks),
        ("volumes", mapper.volumes),
        ("secrets", mapper.files),
        ("services", mapper.services),
    ):
        try:
            step()
        except Invalid as exc:
            raise mapper.fail((section,), str(exc)) from None
        except (TypeError, ValueError, AttributeError, KeyError, IndexError) as exc:
            # a shape declare.compose_shape lets through that this section's mapping cannot read
            message = "a value here cannot be read as Compose's specification describes it"
            raise mapper.fail((section,), message) from exc
    for key in project.unknown_top:
        hint = "merge the files it names with -f" if key == "include" else "not supported"
        stack.skipped.append(Skipped(key, project.source((key,)), hint))
    for path, message in project.notes:
        stack.skipped.append(Skipped(".".join(path), project.source(path), message))
    return stack
