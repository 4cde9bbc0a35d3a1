"""Plans are plain data: an ordered list of Changes, each with its Reasons.

What the fields of a Change mean per action (as Terraform tabulates it):

    action    current_id            what apply does
    create    None                  create (and start, or run a job) the object
    update    the container         change resources / networks in place, rename an adopted one; same ID
    replace   the container/network create a new one, retire the old (rollback on failure)
    restart   the container         restart in place
    start     the container         start a stopped container
    delete    the object            stop and remove it (volumes only when asked)
    build     None, or an image     build an image (kind "image"; engine_name is its content tag), push it
              of the same content   too when the stack pushes; before anything else is touched. With an
                                    image (repo:tag of the same build), tag that one instead of building.
                                    A reason with path ALSO_TAGGED lists more repo:tags the one build
                                    gets (services whose build is the same), pushed too
    push      the image             push an image built earlier to its registry
    no-op     the object            nothing; listed so renderers can count
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hostform.declare.frozen import Frozen
from hostform.declare.names import Kind
from hostform.declare.secrets import MASK

ALSO_TAGGED = "tags"  # a build's reason path: `after` lists the other repo:tags it is tagged in


class Action(StrEnum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    RESTART = "restart"
    START = "start"
    DELETE = "delete"
    BUILD = "build"
    PUSH = "push"
    NOOP = "no-op"


class PlanMode(StrEnum):
    NORMAL = "normal"  # converge the host to the stack file
    DESTROY = "destroy"  # remove every object carrying the stack's label
    FIX = "fix"  # put back only what changed outside hostform (drift --fix)


class ReplaceOrder(StrEnum):
    """How a replacement swaps the old object for the new one."""

    STOP_FIRST = "stop-first"  # the old one stops before the new one starts: a moment of downtime
    START_FIRST = "start-first"  # the new one starts and is ready before the old one stops

    @property
    def mark(self) -> str:
        return "-/+" if self is ReplaceOrder.STOP_FIRST else "+/-"


class ReasonKind(StrEnum):
    NEW = "new"  # declared, not on the host yet
    FIELD = "field"  # the declaration changed (path, before -> after)
    LIVE = "live"  # live differs from the declaration for an in-place field
    IMAGE = "image"  # the tag now resolves to another image ID
    FORCED = "forced"  # --replace NAME
    STOPPED = "stopped"
    JOB_FAILED = "job_failed"
    DEPENDENCY = "dependency"  # something it needs is replaced
    ORPHAN = "orphan"  # managed, no longer declared
    LEFTOVER = "leftover"  # a temporary object of an interrupted apply
    UNTRACKED = "untracked"  # managed but carries no readable last-applied spec
    RELOAD = "reload"  # a config file with reload_signal changed: copied in and signalled, no recreation
    BUILD = "build"  # the build context changed: a new content tag (text names what changed)
    RENAME = "rename"  # an adopted container gets hostform's name: `docker rename`, in place (same ID)
    COMPLETED = "completed"  # a job the record says ran to completion with this spec: not run again
    SIGNAL = "signal"  # after its RELOAD files are copied in, the running container is sent this signal (text)


class Reason(Frozen):
    kind: ReasonKind
    path: str = ""
    before: Any = None
    after: Any = None
    text: str = ""
    outside: bool = False  # LIVE only: the host was changed outside hostform (drift), not the stack file
    diff: str = ""  # a unified diff of a config file, when one is shown

    def __str__(self) -> str:
        if self.text and self.kind in (ReasonKind.FIELD, ReasonKind.LIVE, ReasonKind.RELOAD, ReasonKind.IMAGE):
            return self.text  # a reason read back from a saved plan keeps its printed form
        if self.kind in (ReasonKind.FIELD, ReasonKind.LIVE, ReasonKind.RELOAD):
            if isinstance(self.before, list) and isinstance(self.after, list) and self.path in SET_LIKE:
                entries = _list_change(self.before, self.after, self.path)
                if entries:
                    return f"{self.path}: {entries}"
            return f"{self.path}: {display(self.before, self.path)} -> {display(self.after, self.path)}"
        if self.kind is ReasonKind.IMAGE:
            now, runs = short_image_id(self.after), short_image_id(self.before)
            return f"image {self.path} now resolves to {now} (container runs {runs})"
        return self.text or self.kind.value


@dataclass(frozen=True)
class Change:
    address: str  # containers.web, containers.worker[2], networks.backend, volumes.data
    kind: Kind
    name: str
    engine_name: str
    action: Action
    reasons: tuple[Reason, ...] = ()
    replica: int = 1
    current_id: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()  # create/replace of a container: what it is given
    risks: tuple[str, ...] = ()  # "RULE: setting" for each risky setting (plans.exposure)
    order: ReplaceOrder | None = None  # how it is replaced, when it is (set on what exists and can be)

    def __post_init__(self) -> None:
        if not isinstance(self.kind, Kind):  # given as its word ("container"): the enum from here on
            object.__setattr__(self, "kind", Kind(self.kind))

    @property
    def is_image(self) -> bool:
        return self.kind == Kind.IMAGE

    @property
    def is_service(self) -> bool:
        """A container or a job (as against a network or a volume)."""
        return Kind(self.kind).is_service

    @property
    def replace_paths(self) -> list[str]:
        return [r.path for r in self.reasons if r.kind is ReasonKind.FIELD and r.path]


@dataclass(frozen=True)
class Plan:
    stack: str
    changes: tuple[Change, ...]
    fingerprint: str
    conflicts: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    live: dict[str, str] = field(default_factory=dict)  # observed object -> token (see Observed.tokens)
    key: bytes = field(default=b"", repr=False)  # secret-hashing key; never saved or printed
    key_known: bool = False  # the key is the stack's own (read from the host), not one made for this plan
    mode: PlanMode = PlanMode.NORMAL

    @property
    def applicable(self) -> bool:
        """A plan with conflicts cannot be applied: the host cannot match the stack while they remain."""
        return not self.conflicts

    def refusal(self) -> str:
        """Why the plan cannot be applied ('' when it can)."""
        return "" if self.applicable else f"stack {self.stack!r} cannot converge: " + "; ".join(self.conflicts)

    @property
    def actionable(self) -> list[Change]:
        return [c for c in self.changes if c.action is not Action.NOOP]

    @property
    def has_changes(self) -> bool:
        return bool(self.actionable)

    def counts(self) -> dict[str, int]:
        out = {"add": 0, "replace": 0, "change": 0, "destroy": 0}
        for c in self.actionable:
            if c.is_image:
                key = "build" if c.action is Action.BUILD else "push"
                out[key] = out.get(key, 0) + 1
            elif c.action is Action.CREATE:
                out["add"] += 1
            elif c.action is Action.REPLACE:
                out["replace"] += 1
            elif c.action is Action.DELETE:
                out["destroy"] += 1
            else:
                out["change"] += 1
        return out

    def summary(self) -> str:
        n = self.counts()
        images = "".join(f"{n[k]} to {k}, " for k in ("build", "push") if n.get(k))
        return (
            f"Plan: {images}{n['add']} to add, {n['replace']} to replace, {n['change']} to change, "
            f"{n['destroy']} to destroy."
        )


SET_LIKE = {"ports", "volumes", "tmpfs", "cap_add", "cap_drop", "extra_hosts", "networks", "env_file"}


def _list_change(before: list[Any], after: list[Any], path: str) -> str:
    """A list that gained or lost entries, as those entries only ('' when only the order moved)."""
    added = [x for x in after if x not in before]
    removed = [x for x in before if x not in after]
    return ", ".join([*(f"+ {display(x, path)}" for x in added), *(f"- {display(x, path)}" for x in removed)])


def display(value: Any, path: str = "") -> str:
    """A value as a plan shows it; secrets only ever as a mask."""
    from hostform.declare.units import format_duration, format_size

    leaf = path.rsplit(".", 1)[-1]
    if isinstance(value, int) and not isinstance(value, bool):
        if leaf in ("memory", "memory_reservation"):
            return format_size(value)
        if leaf in ("stop_grace_period", "interval", "timeout", "start_period"):
            return format_duration(value)
    if isinstance(value, dict) and set(value) == {"secret"}:
        return MASK
    if leaf == "ports" and isinstance(value, dict) and "container_port" in value:
        host = f"{value.get('host_ip')}:" if value.get("host_ip") else ""
        host += f"{value['host_port']}:" if value.get("host_port") else ""
        return f"{host}{value['container_port']}/{value.get('protocol', 'tcp')}"
    if leaf == "volumes" and isinstance(value, dict) and "target" in value:
        return f"{value.get('source')}:{value['target']}" + (":ro" if value.get("read_only") else "")
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {display(v, f'{path}.{k}')}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(display(v, path) for v in value) + "]"
    if value is None:
        return "(none)"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # quoted; a newline shown as \n keeps one value on one line
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def short_image_id(image_id: Any) -> str:
    return str(image_id or "(none)").removeprefix("sha256:")[:12]


def public(value: Any) -> Any:
    """A value for JSON output: a canonical secret ({"secret": digest}) becomes "(secret)"."""
    if isinstance(value, dict) and set(value) == {"secret"}:
        return MASK
    if isinstance(value, dict):
        return {str(k): public(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [public(v) for v in value]
    return value
