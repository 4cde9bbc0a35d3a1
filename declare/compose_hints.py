"""What a Compose user's spelling means in a stack: the key to write instead, or why there is
none. declare.schema.suggest gives these hints for unknown keys before guessing by similarity
(`mem_limit` is `memory`, not the nearest-looking `pids_limit`)."""

from __future__ import annotations

from collections.abc import Collection

# fmt: off
SERVICE = {
    "environment": "Compose's `environment` is `env` here: env = { KEY = \"value\" } (or [\"KEY=value\"])",
    "mem_limit": "Compose's `mem_limit` is `memory` here: memory = \"512m\"",
    "mem_reservation": "Compose's `mem_reservation` is `memory_reservation` here",
    "memswap_limit": "no equivalent: swap is Docker's default (twice `memory`)",
    "mem_swappiness": "no equivalent: the engine's default swappiness applies",
    "container_name": "no equivalent: engine names are <stack>-<name> (the table's key); to take over a "
                      "running container by its name, write adopt = \"its-name\"",
    "cpu_shares": "no equivalent: relative CPU weights are not set; `cpus` sets a limit (cpus = 0.5)",
    "cpu_quota": "write `cpus` instead (cpus = 0.5 is a quota of half a CPU)",
    "cpu_period": "write `cpus` instead (cpus = 0.5 is a quota of half a CPU)",
    "cpu_count": "write `cpus` instead (cpus = 2)",
    "cpu_percent": "write `cpus` instead (cpus = 0.5)",
    "cpuset": "no equivalent: containers are not pinned to CPUs",
    "expose": "not needed: containers on a stack network reach each other on every port; `ports` publishes "
              "on the host",
    "links": "not needed: containers reach each other by name on the stack's network (`networks` with "
             "`aliases` for other names)",
    "external_links": "no equivalent: join the other container's network (a [networks.X] with external = true)",
    "volumes_from": "no equivalent: mount the same named volumes in both (`volumes`)",
    "scale": "Compose's `scale` is `replicas` here",
    "deploy": "write its settings as keys of the container: `replicas`, `memory`, `memory_reservation`, `cpus`, "
              "`restart`, `update` (hostform import compose converts a Compose file)",
    "pull_policy": "Compose's `pull_policy` is `pull` here: pull = \"missing\" | \"always\" | \"never\"",
    "configs": "Compose's `configs` are `files` here: files = [{ source = \"NAME\", target = \"/path\" }] with a "
               "[files.NAME] table",
    "profiles": "no equivalent: a stack is one set of resources; `--target NAME` plans or applies part of it",
    "extends": "no equivalent: repeat the keys, or share values through [vars]",
    "tty": "no equivalent: containers run without a terminal",
    "stdin_open": "no equivalent: containers run without standard input",
    "oom_kill_disable": "no equivalent",
    "oom_score_adj": "no equivalent",
    "domainname": "no equivalent: `hostname` names the container",
    "mac_address": "no equivalent: the engine assigns addresses",
    "develop": "no equivalent: hostform provisions hosts; a development loop is Compose's",
    "annotations": "write `labels` instead",
}
TOP = {
    "services": "Compose's `services` are [containers.NAME] tables here, and [jobs.NAME] for one-shot ones "
                "(hostform import compose converts a Compose file)",
    "version": "not needed: remove it (a stack file has no version)",
    "name": "the stack's name is `name` in [stack]: [stack] name = \"...\"",
    "configs": "Compose's `configs` are [files.NAME] tables here",
}
NETWORK = {
    "driver_opts": "Compose's `driver_opts` are `options` here",
    "ipam": "write `subnet` (and `gateway`) instead: subnet = \"172.28.0.0/16\"",
    "name": "no equivalent: engine names are <stack>_<key>; external = true uses a network by its key's name",
}
VOLUME = {
    "name": "no equivalent: engine names are <stack>_<key>; external = true uses a volume by its key's name",
}
# fmt: on


def compose_hint(word: str, choices: Collection[str]) -> str:
    """The hint for `word` where `choices` are the keys allowed ('' when there is none): the table
    is told by the keys it allows."""
    if "image" in choices and "command" in choices:
        table = SERVICE
    elif "containers" in choices:
        table = TOP
    elif "subnet" in choices:
        table = NETWORK
    elif "driver_opts" in choices:
        table = VOLUME
    else:
        return ""
    return table.get(word, "")
