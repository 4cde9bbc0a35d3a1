"""Engine names and labels: how hostform recognises what it owns."""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum

from hostform.declare.frozen import Frozen

LABEL_STACK = "io.hostform.stack"
LABEL_NAME = "io.hostform.name"
LABEL_KIND = "io.hostform.kind"
LABEL_REPLICA = "io.hostform.replica"
LABEL_SPEC = "io.hostform.spec"  # last-applied canonical spec (secrets hashed)
LABEL_SPEC_HASH = "io.hostform.spec-hash"
LABEL_KEY = "io.hostform.key"  # per-stack key for hashing secrets, on the default network
LABEL_RECORD = "io.hostform.record"  # on the record's objects: the stack whose applies they record
LABEL_GENERATION = "io.hostform.generation"
LABEL_RECORD_DATA = "io.hostform.record.data"  # a generation volume's record (canonical JSON)
LABEL_RECORD_MAC = "io.hostform.record.mac"  # its seal: HMAC-SHA256 under the stack's key
LABEL_LOCK = "io.hostform.lock"  # on the lock: the stack it locks
KIND_RECORD = "record"
KIND_LOCK = "lock"
KIND_KEY = "key"
GENERATION_DIGITS = 6  # hostform.record.<stack>.000001 to .999999
# label prefixes of the tools' own bookkeeping, never a user's: left out of an adopted object's labels
TOOL_LABELS = ("com.docker.compose.", "io.hostform.")


class Kind(StrEnum):
    """What a resource is; its label `io.hostform.kind`, and the table it sits in (`containers.web`)."""

    CONTAINER = "container"
    JOB = "job"
    NETWORK = "network"
    VOLUME = "volume"
    IMAGE = "image"  # an image hostform builds
    CONFIG = "config"  # a Swarm config (a config file of a stack on Swarm)
    SECRET = "secret"  # a Swarm secret (a config file holding a secret)

    @property
    def table(self) -> str:
        return "files" if self in (Kind.CONFIG, Kind.SECRET) else f"{self.value}s"

    @property
    def is_service(self) -> bool:
        """A container or a job (as against a network, a volume or an image)."""
        return self in (Kind.CONTAINER, Kind.JOB)


ADDRESS_FORMS = (
    "containers.NAME, containers.NAME[i], jobs.NAME, networks.NAME, volumes.NAME, images.REPOSITORY, files.NAME"
)


class Address(Frozen):
    """Where a resource stands in a plan and a report: `containers.web`, `containers.worker[2]`,
    `jobs.migrate`, `networks.back`, `volumes.data`. The replica is shown when given (a container
    or job with several replicas); None for one alone."""

    kind: Kind
    name: str
    replica: int | None = None

    @classmethod
    def of(cls, kind: str, name: str, replica: int = 1, replicas: int = 1) -> Address:
        """A resource's address: its replica shown when it has several (or when it is not the first)."""
        return cls(Kind(kind), name, replica if replicas > 1 or replica != 1 else None)

    def __str__(self) -> str:
        return f"{self.kind.table}.{self.name}" + (f"[{self.replica}]" if self.replica is not None else "")

    def format(self) -> str:
        return str(self)

    @classmethod
    def parse(cls, text: str) -> Address:
        """An address as `format` writes it; ValueError naming the accepted forms otherwise."""
        table, dot, rest = text.partition(".")
        kinds = {k.table: k for k in reversed(Kind)}  # files.NAME reads as a config
        name, bracket, index = rest.partition("[")
        replica = None
        if bracket:
            digits = index.removesuffix("]")
            replica = int(digits) if index.endswith("]") and digits.isdigit() else 0
        if not dot or table not in kinds or not name or replica == 0:
            raise ValueError(f"{text!r} is not an address ({ADDRESS_FORMS})")
        return cls(kinds[table], name, replica)


class Condition(StrEnum):
    """What a wait waits for: a `depends_on` condition (started, healthy, completed), or READY,
    what a replacement waits for before the old container goes (not declarable)."""

    STARTED = "started"  # running
    HEALTHY = "healthy"  # its healthcheck passes
    COMPLETED = "completed"  # a job exited 0
    READY = "ready"  # healthy when it has a healthcheck, otherwise running for a moment (SETTLE)


DEFAULT_NETWORK = "default"
TEMP_NEW = "--new"
TEMP_OLD = "--old"


def container_name(stack: str, name: str, replica: int, replicas: int) -> str:
    return f"{stack}-{name}" if replicas <= 1 and replica == 1 else f"{stack}-{name}-{replica}"


PROXY_ENV = "HOSTFORM_PROXY"  # which edge proxy routes go through (`hostform proxy up --name`)
DEFAULT_PROXY = "hostform-proxy"
EDGE_NETWORK = "edge"  # the proxy stack's network that routed containers join


def proxy_name(environ: Mapping[str, str] | None = None) -> str:
    """The edge proxy's stack name: $HOSTFORM_PROXY, else hostform-proxy."""
    return (os.environ if environ is None else environ).get(PROXY_ENV) or DEFAULT_PROXY


def edge_network(proxy: str) -> str:
    return network_name(proxy, EDGE_NETWORK)


def temp_name(engine_name: str, suffix: str) -> str:
    """Unique, so leftovers of an interrupted apply never block the next one."""
    return f"{engine_name}{suffix}-{os.urandom(3).hex()}"


def lock_name(stack: str) -> str:
    """`hostform.lock.<stack>`: the stack lock's container (one engine) or config (Swarm); no
    declared name can produce it, for the reason `record_name` gives."""
    return f"hostform.lock.{stack}"


def record_name(stack: str, generation: int) -> str:
    """`hostform.record.<stack>.<generation>`: no declared resource can produce it. A declared
    name is `<stack><'-' or '_'><name>`; here every '-' or '_' comes after a '.', which a stack
    name never holds, so no prefix ending at a separator is a stack name."""
    return f"hostform.record.{stack}.{generation:06d}"


def record_number(stack: str, engine_name: str) -> int | None:
    """The generation a record object's name holds: exactly `record_name(stack, N)` with six digits
    and N from 1 to 999999; None for any other name (a longer number, another stack, a suffix)."""
    prefix = f"hostform.record.{stack}."
    digits = engine_name[len(prefix) :] if engine_name.startswith(prefix) else ""
    if len(digits) != GENERATION_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    number = int(digits)
    return number if number >= 1 else None


def key_name(stack: str) -> str:
    """`hostform.key.<stack>`: the volume keeping the stack's key, for the reason `record_name` gives."""
    return f"hostform.key.{stack}"


def is_temporary(engine_name: str) -> bool:
    """A name `temp_name` made (`<engine name>--new-a1b2c3`): a leftover of an interrupted apply."""
    head, sep, tail = engine_name.rpartition("-")
    return bool(sep) and len(tail) == 6 and head.endswith((TEMP_NEW, TEMP_OLD))


def network_name(stack: str, name: str) -> str:
    return f"{stack}_{name}"


def volume_name(stack: str, name: str) -> str:
    return f"{stack}_{name}"


class Naming(Frozen):
    """Engine names of a stack's networks and volumes: `<stack>_<key>`, or the key itself for one
    declared `external = true` (an existing object hostform uses but does not own). `edge`: the
    edge proxy's network, which a container with a route joins ("" when no container has one)."""

    stack: str
    external_networks: frozenset[str] = frozenset()
    external_volumes: frozenset[str] = frozenset()
    edge: str = ""

    def network(self, key: str) -> str:
        return key if key in self.external_networks else network_name(self.stack, key)

    def volume(self, key: str) -> str:
        return key if key in self.external_volumes else volume_name(self.stack, key)


def user_labels(labels: dict[str, str]) -> dict[str, str]:
    """The labels a user declared: all but hostform's own (io.hostform.*)."""
    return {k: v for k, v in labels.items() if not k.startswith("io.hostform.")}


def owner_labels(stack: str, name: str, kind: str) -> dict[str, str]:
    return {LABEL_STACK: stack, LABEL_NAME: name, LABEL_KIND: kind}
