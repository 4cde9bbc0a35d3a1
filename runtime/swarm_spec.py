"""A declared container or job as a full Swarm service spec (the body hostform sends).

Engine names, as `docker stack deploy` makes them: services `<stack>_<name>`, overlay networks
`<stack>_<name>`, configs and secrets `<stack>_<file>-<digest>` (content-addressed: a change is a
new object, and so a rolling update of the services using it).
"""

from __future__ import annotations

from typing import Any

from hostform.declare import names
from hostform.declare.canonical import canonical_json, fields_of, file_digest, service_spec, spec_hash
from hostform.declare.load import LoadedStack, ResolvedFile
from hostform.declare.spec import ContainerSpec, PortMapping
from hostform.runtime.container_config import healthcheck_body
from hostform.runtime.swarm import LABEL_DIGEST, LABEL_SENT, owned_digest

LABEL_KIND_JOB = "job"


def service_name(stack: str, name: str) -> str:
    return f"{stack}_{name}"


def file_kind(resolved: ResolvedFile) -> str:
    return "secret" if resolved.is_secret else "config"


def file_engine_name(stack: str, resolved: ResolvedFile, key: bytes) -> str:
    """Content-addressed; a secret's name carries a keyed digest, so its value cannot be guessed back."""
    digest = file_digest(resolved.content, key) if resolved.is_secret else resolved.sha256
    return f"{stack}_{resolved.name}-{digest[:12]}"


def file_labels(stack: str, resolved: ResolvedFile, key: bytes) -> dict[str, str]:
    digest = file_digest(resolved.content, key) if resolved.is_secret else resolved.sha256
    return {**names.owner_labels(stack, resolved.name, file_kind(resolved)), LABEL_DIGEST: digest}


def service_body(loaded: LoadedStack, name: str, key: bytes, image: str, file_ids: dict[str, str]) -> dict[str, Any]:
    """The whole spec: whatever it leaves out, Swarm resets (the reason updates send all of it)."""
    stack = loaded.stack
    spec = stack.jobs.get(name) or stack.containers[name]
    kind = "job" if name in stack.jobs else "container"
    canonical = service_spec(loaded, name, key)
    body: dict[str, Any] = {
        "Name": service_name(stack.name, name),
        "TaskTemplate": {
            "ContainerSpec": _container(loaded, spec, image, file_ids, key),
            "Resources": _resources(spec),
            "RestartPolicy": _restart(spec, kind),
            "Placement": _placement(spec),
            "Networks": _networks(loaded, spec, name),
        },
        "Mode": _mode(spec, kind),
        "EndpointSpec": {"Mode": spec.endpoint_mode, "Ports": [_port(p) for p in spec.ports]},
    }
    if kind == "container":
        body["UpdateConfig"] = _update(fields_of(spec.update))
        body["RollbackConfig"] = _update(fields_of(spec.rollback))
    labels = {
        **names.user_labels(spec.labels),
        **names.owner_labels(stack.name, name, kind),
        names.LABEL_SPEC: canonical_json(canonical),
        names.LABEL_SPEC_HASH: spec_hash(canonical),
    }
    body["Labels"] = {**labels, LABEL_SENT: owned_digest(body)}
    return body


def _container(
    loaded: LoadedStack, spec: ContainerSpec, image: str, file_ids: dict[str, str], key: bytes
) -> dict[str, Any]:
    from hostform.declare.secrets import reveal

    stack = loaded.stack
    out: dict[str, Any] = {
        "Image": image,
        "Labels": {**names.user_labels(spec.labels), names.LABEL_STACK: stack.name},
        "Env": [f"{k}={reveal(v)}" for k, v in sorted(spec.env.items())],
        "StopGracePeriod": spec.stop_grace_period,
        "ReadOnly": spec.read_only,
        "Mounts": _mounts(stack.name, spec, loaded),
    }
    if spec.entrypoint is not None:
        out["Command"] = list(spec.entrypoint)
    if spec.command is not None:
        out["Args"] = list(spec.command)
    for field, value in (
        ("User", spec.user),
        ("Dir", spec.working_dir),
        ("Hostname", spec.hostname),
        ("StopSignal", spec.stop_signal),
    ):
        if value is not None:
            out[field] = value
    if spec.extra_hosts:
        out["Hosts"] = [f"{ip} {host}" for host, _, ip in (h.partition(":") for h in spec.extra_hosts)]
    if spec.cap_add:
        out["CapabilityAdd"] = [f"CAP_{c}" for c in spec.cap_add]
    if spec.cap_drop:
        out["CapabilityDrop"] = [f"CAP_{c}" for c in spec.cap_drop]
    if spec.healthcheck is not None:
        out["Healthcheck"] = healthcheck_body(spec.healthcheck)
    configs, secrets = [], []
    for fm in spec.files:
        resolved = loaded.files[fm.source]
        engine_name = file_engine_name(stack.name, resolved, key)
        ref = {"File": {"Name": fm.target, "UID": "0", "GID": "0", "Mode": fm.mode}}
        if resolved.is_secret:
            secrets.append({**ref, "SecretID": file_ids.get(engine_name, ""), "SecretName": engine_name})
        else:
            configs.append({**ref, "ConfigID": file_ids.get(engine_name, ""), "ConfigName": engine_name})
    if configs:
        out["Configs"] = configs
    if secrets:
        out["Secrets"] = secrets
    return out


def _mounts(stack: str, spec: ContainerSpec, loaded: LoadedStack) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in spec.volumes:
        if m.type == "bind":
            out.append({"Type": "bind", "Source": m.source, "Target": m.target, "ReadOnly": m.read_only})
            continue
        vol = loaded.stack.volumes[m.source]
        mount: dict[str, Any] = {"Type": "volume", "Target": m.target, "ReadOnly": m.read_only}
        if vol.external:
            mount["Source"] = m.source
        else:
            mount["Source"] = names.volume_name(stack, m.source)
            mount["VolumeOptions"] = {
                "Labels": {**vol.labels, **names.owner_labels(stack, m.source, "volume")},
                "DriverConfig": {"Name": vol.driver, "Options": vol.driver_opts},
            }
        out.append(mount)
    for t in spec.tmpfs:
        out.append({"Type": "tmpfs", "Target": t.partition(":")[0]})
    return out


def _resources(spec: ContainerSpec) -> dict[str, Any]:
    limits: dict[str, Any] = {}
    if spec.memory is not None:
        limits["MemoryBytes"] = spec.memory
    if spec.cpus is not None:
        limits["NanoCPUs"] = round(spec.cpus * 10**9)
    if spec.pids_limit is not None:
        limits["Pids"] = spec.pids_limit
    reservations: dict[str, Any] = {}
    if spec.reservations is not None:
        if spec.reservations.memory is not None:
            reservations["MemoryBytes"] = spec.reservations.memory
        if spec.reservations.cpus is not None:
            reservations["NanoCPUs"] = round(spec.reservations.cpus * 10**9)
    return {"Limits": limits, "Reservations": reservations}


def _restart(spec: ContainerSpec, kind: str) -> dict[str, Any]:
    """A service is kept at its replica count: an unset restart is Swarm's 'any' (a job's: none).
    restart = 'no' written out stops Swarm restarting a task that exited."""
    policy, _, count = spec.restart.partition(":")
    if kind == "job" or (policy == "no" and "restart" in spec.model_fields_set):
        return {"Condition": "none", "MaxAttempts": 0}
    if policy == "on-failure":
        return {"Condition": "on-failure", "MaxAttempts": int(count or 0)}
    return {"Condition": "any", "MaxAttempts": 0}


def _placement(spec: ContainerSpec) -> dict[str, Any]:
    p = spec.placement
    if p is None:
        return {}
    out: dict[str, Any] = {}
    if p.constraints:
        out["Constraints"] = list(p.constraints)
    if p.preferences:
        out["Preferences"] = [{"Spread": {"SpreadDescriptor": pref.spread}} for pref in p.preferences]
    if p.max_replicas_per_node is not None:
        out["MaxReplicas"] = p.max_replicas_per_node
    return out


def _networks(loaded: LoadedStack, spec: ContainerSpec, name: str) -> list[dict[str, Any]]:
    """Each attachment carries the service's own key as an alias, so `db` resolves as on one host."""
    stack = loaded.stack
    attachments = spec.networks
    if not attachments:
        return [{"Target": names.network_name(stack.name, names.DEFAULT_NETWORK), "Aliases": [name]}]
    naming = names.Naming(stack.name, frozenset(k for k, n in stack.networks.items() if n.external))
    return [{"Target": naming.network(a.name), "Aliases": sorted({name, *a.aliases})} for a in attachments]


def _mode(spec: ContainerSpec, kind: str) -> dict[str, Any]:
    if kind == "job":
        return {"ReplicatedJob": {"MaxConcurrent": 1, "TotalCompletions": 1}}
    if spec.global_:
        return {"Global": {}}
    return {"Replicated": {"Replicas": spec.replicas}}


def _update(policy: dict[str, Any]) -> dict[str, Any]:
    return {
        "Parallelism": policy["parallelism"],
        "Delay": policy["delay"],
        "FailureAction": policy["failure_action"],
        "Monitor": policy["monitor"],
        "MaxFailureRatio": policy["max_failure_ratio"],
        "Order": policy["order"],
    }


def _port(p: PortMapping) -> dict[str, Any]:
    out: dict[str, Any] = {"Protocol": p.protocol, "TargetPort": p.container_port, "PublishMode": p.mode or "ingress"}
    if p.host_port is not None:
        out["PublishedPort"] = p.host_port
    return out
