"""For every field of a container, what a change to it costs.

One table: a test walks the schema and fails when a field is missing here, so
no field is ever silently ignored by the planner.
"""

from __future__ import annotations

from enum import StrEnum


class Effect(StrEnum):
    REPLACE = "replace"  # the container is recreated
    UPDATE = "update"  # changed in place (Docker's update API, network connect/disconnect)
    NONE = "none"  # hostform's own bookkeeping: no change to the container


FIELD_EFFECTS: dict[str, Effect] = {
    "image": Effect.REPLACE,
    "build": Effect.NONE,  # what it builds shows in the image's content tag, which is compared
    "command": Effect.REPLACE,
    "entrypoint": Effect.REPLACE,
    "env": Effect.REPLACE,
    "env_file": Effect.NONE,  # its values are merged into env, which is compared
    "ports": Effect.REPLACE,
    "volumes": Effect.REPLACE,
    "tmpfs": Effect.REPLACE,
    "networks": Effect.UPDATE,
    "restart": Effect.UPDATE,
    "healthcheck": Effect.REPLACE,
    "depends_on": Effect.NONE,
    "labels": Effect.REPLACE,
    "user": Effect.REPLACE,
    "working_dir": Effect.REPLACE,
    "hostname": Effect.REPLACE,
    "memory": Effect.UPDATE,
    "memory_reservation": Effect.UPDATE,
    "cpus": Effect.UPDATE,
    "pids_limit": Effect.UPDATE,
    "cap_add": Effect.REPLACE,
    "cap_drop": Effect.REPLACE,
    "read_only": Effect.REPLACE,
    "stop_signal": Effect.REPLACE,
    "stop_grace_period": Effect.REPLACE,
    "extra_hosts": Effect.REPLACE,
    "replicas": Effect.NONE,  # replicas are created and deleted one by one
    "files": Effect.REPLACE,
    "secrets": Effect.NONE,  # each becomes a file (declare/load.py), compared under `files`
    "update": Effect.NONE,
    "pull": Effect.NONE,
    "adopt": Effect.NONE,  # which running container `hostform adopt` takes over: never in the canonical spec
    # Swarm only: a host stack never holds them (declare/targets.py)
    "global_": Effect.NONE,
    "placement": Effect.NONE,
    "reservations": Effect.NONE,
    "rollback": Effect.NONE,
    "endpoint_mode": Effect.NONE,
    "route": Effect.UPDATE,  # the edge proxy's configuration: the container stays (plans.routing)
    # host settings: the engine's update API changes none of them, so each change is a new container
    **{
        key: Effect.REPLACE
        for key in (
            *("privileged", "devices", "gpus", "network_mode", "init", "shm_size", "ulimits", "sysctls"),
            *("logging", "security_opt", "group_add", "ipc", "pid", "dns", "dns_search", "platform", "mac_address"),
        )
    },
}

IN_PLACE = tuple(f for f, e in FIELD_EFFECTS.items() if e is Effect.UPDATE)

# Docker's update API reads 0 as "unchanged", so lifting one of these limits needs a new container.
LIFTED_BY_REPLACE = ("memory", "memory_reservation", "cpus")


def effect_of(path: str) -> Effect:
    top = path.split(".", 1)[0].split("[", 1)[0]
    return FIELD_EFFECTS.get(top, Effect.REPLACE)
