"""What a new container would be given: its attributes as a reviewer reads them, and the risky ones.

A create plan lists the container's attributes (as Terraform does) so a reviewer sees
`/:/host`, the engine socket or `cap_add = ["SYS_ADMIN"]`, not just "will be created".
Risky settings are marked by rule, and a policy (`--deny RULE,...`, `--policy FILE`
kept outside the stack) makes a plan that has them fail, naming the rule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from hostform.declare.errors import HostformError
from hostform.declare.load import LoadedStack
from hostform.declare.secrets import MASK, Secret
from hostform.declare.spec import ContainerSpec
from hostform.plans.model import Action, Plan

RULES = {
    "host-root-mount": "a bind mount of the host's root or a system folder",
    "engine-socket": "a bind mount of the container engine's socket (full control of the host)",
    "dangerous-caps": "a capability that lets the container escape or control the host",
    "host-path-mount": "a bind mount of a host path outside the stack's folder",
    "privileged": "privileged = true, or a security_opt that lifts seccomp, AppArmor or SELinux confinement",
    "host-devices": "a host device (devices) or GPUs passed into the container",
    "host-namespaces": "the host's network, IPC or PID namespace (network_mode, ipc or pid = 'host')",
}
SYSTEM_DIRS = (
    *("/etc", "/proc", "/sys", "/dev", "/boot", "/root", "/usr", "/bin", "/sbin", "/lib", "/lib64"),
    *("/var/lib/docker", "/var/lib/containerd", "/home"),
)
SOCKETS = ("docker.sock", "containerd.sock", "podman.sock", "crio.sock", "dockershim.sock")
SOCKET_DIRS = ("/run", "/var/run", "/run/docker", "/run/containerd", "/var/run/docker", "/run/podman")
DANGEROUS_CAPS = frozenset(
    {
        *("ALL", "SYS_ADMIN", "SYS_PTRACE", "SYS_MODULE", "SYS_RAWIO", "SYS_BOOT", "SYS_TIME", "NET_ADMIN"),
        *("DAC_READ_SEARCH", "BPF", "PERFMON", "MAC_ADMIN", "MAC_OVERRIDE", "SYSLOG", "SYS_RESOURCE"),
    }
)


@dataclass(frozen=True)
class Risk:
    rule: str
    setting: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.setting}"


def attributes(loaded: LoadedStack, name: str) -> tuple[tuple[str, str], ...]:
    """The settings of a container or job as a plan lists them; secrets masked, defaults left out."""
    spec = loaded.stack.services()[name]
    rows: list[tuple[str, str]] = [("image", spec.image)]
    if spec.command is not None:
        rows.append(("command", _words(spec.command)))
    if spec.entrypoint is not None:
        rows.append(("entrypoint", _words(spec.entrypoint)))
    if spec.user:
        rows.append(("user", spec.user))
    if spec.env:
        rows.append(
            ("env", ", ".join(f"{k}={MASK if isinstance(v, Secret) else v}" for k, v in sorted(spec.env.items())))
        )
    rows += [("ports", str(p)) for p in spec.ports]
    rows += [
        (
            "volumes",
            f"{loaded.shown_path(m.source) if m.type == 'bind' else m.source}:{m.target}"
            + (":ro" if m.read_only else ""),
        )
        for m in spec.volumes
    ]
    rows += [("tmpfs", t) for t in spec.tmpfs]
    rows += [("files", f"{f.source} -> {f.target}") for f in spec.files]
    if spec.cap_add:
        rows.append(("cap_add", ", ".join(spec.cap_add)))
    if spec.cap_drop:
        rows.append(("cap_drop", ", ".join(spec.cap_drop)))
    rows.append(("networks", ", ".join(a.name for a in spec.networks) or "default"))
    if spec.route is not None:
        route = spec.route
        tls = " (tls)" if route.tls is not None else ""
        rows.append(("route", f"{route.host}{route.path} -> port {route.port}{tls}, through the edge proxy"))
    rows += [(key, str(getattr(spec, key))) for key in ("read_only", "hostname", "working_dir") if getattr(spec, key)]
    rows += [("extra_hosts", h) for h in spec.extra_hosts]
    rows += [(f"labels.{k}", v) for k, v in sorted(spec.labels.items())]
    rows += host_rows(spec)
    return tuple((key, _one_line(value)) for key, value in rows)


def host_rows(spec: ContainerSpec) -> list[tuple[str, str]]:
    """The host settings a create plan lists (those the stack sets)."""
    rows: list[tuple[str, str]] = []
    for key in ("privileged", "init"):
        if getattr(spec, key):
            rows.append((key, "true"))
    rows += [("devices", d) for d in spec.devices]
    if spec.gpus is not None:
        rows.append(("gpus", "all" if spec.gpus == -1 else str(spec.gpus)))
    for key in ("network_mode", "ipc", "pid", "platform", "mac_address"):
        if getattr(spec, key) is not None:
            rows.append((key, str(getattr(spec, key))))
    if spec.shm_size is not None:
        rows.append(("shm_size", str(spec.shm_size)))
    rows += [(f"ulimits.{k}", f"{u.soft}:{u.hard}") for k, u in sorted(spec.ulimits.items())]
    rows += [(f"sysctls.{k}", v) for k, v in sorted(spec.sysctls.items())]
    if spec.logging is not None:
        options = ", ".join(f"{k}={v}" for k, v in sorted(spec.logging.options.items()))
        rows.append(("logging", spec.logging.driver + (f" ({options})" if options else "")))
    for key in ("security_opt", "group_add", "dns", "dns_search"):
        rows += [(key, v) for v in getattr(spec, key)]
    return rows


UNCONFINED = ("seccomp=unconfined", "seccomp:unconfined", "apparmor=unconfined", "apparmor:unconfined")


def host_risks(spec: ContainerSpec) -> list[Risk]:
    found = [Risk("privileged", "privileged = true")] if spec.privileged else []
    found += [
        Risk("privileged", f"security_opt {o}")
        for o in spec.security_opt
        if o.lower() in UNCONFINED or o.lower().startswith(("label=disable", "label:disable"))
    ]
    found += [Risk("host-devices", f"devices {d}") for d in spec.devices]
    if spec.gpus is not None:
        found.append(Risk("host-devices", f"gpus {'all' if spec.gpus == -1 else spec.gpus}"))
    found += [
        Risk("host-namespaces", f"{key} = 'host'")
        for key in ("network_mode", "ipc", "pid")
        if getattr(spec, key) == "host"
    ]
    return found


def risks(loaded: LoadedStack, spec: ContainerSpec) -> tuple[Risk, ...]:
    found: list[Risk] = []
    stack_dir = os.path.realpath(loaded.base_dir)
    for m in spec.volumes:
        if m.type != "bind":
            continue
        source = mounted_path(m.source)
        setting = f"volumes {loaded.shown_path(m.source)}:{m.target}" + (":ro" if m.read_only else "")
        if Path(source).name in SOCKETS or source in SOCKET_DIRS:
            found.append(Risk("engine-socket", setting))
        elif source == "/" or any(source == d or source.startswith(d + "/") for d in SYSTEM_DIRS):
            found.append(Risk("host-root-mount", setting))
        elif not (source == stack_dir or source.startswith(stack_dir.rstrip("/") + "/")):
            found.append(Risk("host-path-mount", setting))
    found += [Risk("dangerous-caps", f"cap_add {cap}") for cap in spec.cap_add if cap in DANGEROUS_CAPS]
    found += host_risks(spec)
    return tuple(found)


def mounted_path(source: str) -> str:
    """The host path the engine will really mount: symbolic links followed (a link in the stack's
    folder to `/` or to the engine's socket is that), `.`, `..` and repeated slashes folded
    (`//etc` is `/etc`). The stack's author can point a link anywhere, so the policy judges the target."""
    return os.path.realpath(source)


def with_exposure(plan: Plan, loaded: LoadedStack) -> Plan:
    """A container or job that will be created gets its attributes (a replacement shows what
    changed instead); created or replaced, its risky settings are marked."""
    services = loaded.stack.services()
    changes = []
    for c in plan.changes:
        if c.is_service and c.action in (Action.CREATE, Action.REPLACE) and c.name in services:
            shown = attributes(loaded, c.name) if c.action is Action.CREATE else ()
            c = replace(c, attributes=shown, risks=tuple(map(str, risks(loaded, services[c.name]))))
        changes.append(c)
    return replace(plan, changes=tuple(changes))


def denied_rules(deny: list[str], policy: str | None, stack_dir: Path) -> frozenset[str]:
    """The rules the operator refuses: --deny (comma-separated, repeatable) and a policy file's `deny`."""
    rules = {r.strip() for given in deny for r in given.split(",") if r.strip()}
    if policy:
        rules |= _policy_rules(policy, stack_dir)
    unknown = sorted(rules - set(RULES))
    if unknown:
        raise HostformError(f"unknown policy rule {unknown[0]!r} (rules: {', '.join(RULES)})")
    return frozenset(rules)


def _policy_rules(policy: str, stack_dir: Path) -> set[str]:
    import tomllib

    from hostform.declare.access import PathRefused, read_regular

    where = Path(os.path.realpath(policy))
    if where.is_relative_to(os.path.realpath(stack_dir)):
        raise HostformError(f"--policy {policy}: the policy must be kept outside the stack's folder")
    try:
        doc = tomllib.loads(read_regular(where, 1 << 20).decode("utf-8"))
    except (PathRefused, ValueError) as exc:
        raise HostformError(f"--policy {policy}: cannot read: {exc}") from None
    deny = doc.get("deny", [])
    if not isinstance(deny, list) or not all(isinstance(r, str) for r in deny):
        raise HostformError(f"--policy {policy}: deny must be a list of rule names")
    return set(deny)


def check_policy(plan: Plan, denied: frozenset[str]) -> None:
    broken = [(c, r) for c in plan.actionable for r in c.risks if r.split(":", 1)[0] in denied]
    if broken:
        raise HostformError("the plan breaks the policy: " + "; ".join(f"{c.address}: {r} (denied)" for c, r in broken))


def _words(words: tuple[str, ...]) -> str:
    import json

    return json.dumps(list(words), ensure_ascii=False)


def _one_line(text: str) -> str:
    return text.replace("\n", "\\n").replace("\r", "\\r")


__all__ = ["RULES", "Risk", "attributes", "check_policy", "denied_rules", "risks", "with_exposure"]
