"""Frozen records of what the engine reports: no raw inspect dict leaves runtime/."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hostform.runtime.generation import Generation

from hostform.declare.frozen import Frozen
from hostform.declare.names import Kind

if TYPE_CHECKING:
    from hostform.runtime.routes import EdgeView


class LiveSettings(Frozen):
    """The fields the engine can change in place, as the container has them now."""

    restart: str = "no"
    memory: int | None = None
    memory_reservation: int | None = None
    cpus: float | None = None
    pids_limit: int | None = None
    networks: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (engine network, aliases)
    env: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    ports: tuple[str, ...] = ()  # "hostip:hostport->port/proto" as bound


class ObservedContainer(Frozen):
    id: str
    engine_name: str
    name: str  # the resource's key in the stack file
    kind: Kind  # CONTAINER or JOB
    replica: int
    image_id: str
    state: str  # created | running | paused | restarting | exited | dead
    health: str | None  # healthy | unhealthy | starting | None
    exit_code: int | None
    last_applied: dict[str, Any] | None
    spec_hash: str | None
    settings: LiveSettings | None = None  # filled by inspect
    file_hashes: tuple[tuple[str, str | None], ...] = ()  # (target, sha256 or None: absent) when asked for
    # facts for `drift` only (kept out of tokens(): they change without anyone touching the container)
    created: float = 0.0  # unix seconds
    restart_count: int = 0
    oom_killed: bool = False
    health_output: str | None = None  # output of the last health check, when inspected
    adopted: bool = False  # taken over by `hostform adopt`: no labels, the record says it is the stack's


@dataclass(frozen=True)
class ObservedNetwork:
    id: str
    engine_name: str
    name: str
    driver: str
    internal: bool
    attachable: bool
    subnet: str | None
    labels: dict[str, str] = field(default_factory=dict)
    created: float = 0.0  # unix seconds; for `drift` only
    options: dict[str, str] = field(default_factory=dict)  # driver options
    gateway: str | None = None  # of the first IPAM pool, as the engine has it
    adopted: bool = False  # taken over by `hostform adopt` (unlabelled)


@dataclass(frozen=True)
class ObservedVolume:
    engine_name: str
    name: str
    driver: str
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)  # driver_opts
    adopted: bool = False  # taken over by `hostform adopt` (unlabelled): never deleted by hostform


class Conflict(Frozen):
    """An object without our stack label sitting on a name we declared."""

    kind: str
    engine_name: str
    id: str
    owner: str | None  # another stack's name, when it carries one

    def __str__(self) -> str:
        who = f"stack {self.owner!r}" if self.owner else "not managed by hostform"
        hint = "" if self.owner else "; to take it over as it is, `hostform adopt` the stack"
        return f"{self.kind} {self.engine_name!r} already exists ({who}); hostform will not touch it{hint}"


@dataclass(frozen=True)
class Observed:
    stack: str
    containers: tuple[ObservedContainer, ...]
    networks: tuple[ObservedNetwork, ...]
    volumes: tuple[ObservedVolume, ...]
    conflicts: tuple[Conflict, ...]
    image_ids: dict[str, str | None]  # image reference -> local image ID (None: not present)
    key: bytes | None  # the stack's secret-hashing key, when the default network exists
    missing_paths: tuple[str, ...] = ()  # bind-mount sources absent on the engine's host (local engines)
    missing_external: tuple[str, ...] = ()  # "network NAME" / "volume NAME" declared external, not on the engine
    record: Generation | None = None  # the newest generation of the stack's record (runtime.record)
    hand_made: tuple[tuple[str, str], ...] = ()  # (kind, engine name): labelled, undeclared, in no generation
    repo_digests: dict[str, tuple[str, ...]] = field(default_factory=dict)  # image reference -> repo@sha256:...
    build_changes: dict[str, str] = field(default_factory=dict)  # "OLD_REF -> NEW_REF" -> what changed in the context
    # The stack lock, when it was read with the first wave (it comes with the record's listing):
    # its labels, None when there is no lock.
    lock_read: bool = False
    lock_labels: dict[str, str] | None = None
    foreign: tuple[str, ...] = ()  # volumes labelled as the stack's record that hostform did not write
    record_kept_in_containers: bool = False  # the record is an older hostform's: the next apply moves it
    # The edge proxy as seen for a stack with routes (runtime.edge.EdgeView); None: not read
    edge: EdgeView | None = None

    def tokens(self) -> dict[str, str]:
        """One short token per live object, to say which one changed between two observations."""
        out = {
            f"container {c.engine_name}": "/".join(
                (c.id[:12], c.state, str(c.spec_hash), c.image_id[7:19], _digest(c.settings))
            )
            for c in self.containers
        }
        out.update({f"network {n.engine_name}": n.id[:12] for n in self.networks})
        out.update({f"volume {v.engine_name}": "present" for v in self.volumes})
        out.update({f"image {ref}": (iid or "missing")[7:19] for ref, iid in self.image_ids.items()})
        out.update({f"conflicting {c.kind} {c.engine_name}": c.id[:12] for c in self.conflicts})
        out.update({f"path {p}": "missing" for p in self.missing_paths})
        out.update({f"external {x}": "missing" for x in self.missing_external})
        if self.record is not None:
            out["record"] = str(self.record.number)
        out.update({f"foreign {name}": "present" for name in self.foreign})
        if self.edge is not None:
            out["edge proxy"] = self.edge.token()
        return out

    def fingerprint(self) -> str:
        import hashlib
        import json

        return hashlib.sha256(json.dumps(self.tokens(), sort_keys=True).encode()).hexdigest()[:24]


def _digest(value: object) -> str:
    import hashlib

    return hashlib.sha256(repr(value).encode()).hexdigest()[:8]
