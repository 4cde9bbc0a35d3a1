"""Drift classification without an engine: a stack, a host built as if applied, one change by hand.

Each case names a mutation of the applied host (or of the stack file) and the
findings `detect` must report: (address, drift, field paths).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hostform.declare import names
from hostform.declare.canonical import file_digest, service_spec
from hostform.declare.frozen import changed
from hostform.declare.load import LoadedStack, load
from hostform.declare.names import Naming
from hostform.declare.secrets import reveal
from hostform.plans.diff import make_plan
from hostform.plans.drift import Drift, DriftReport, detect
from hostform.plans.model import Action
from hostform.runtime.container_config import network_attachments
from hostform.runtime.generation import Generation, RecordedResource
from hostform.runtime.records import (
    Conflict,
    LiveSettings,
    Observed,
    ObservedContainer,
    ObservedNetwork,
    ObservedVolume,
)

KEY = b"k" * 16
IMAGE_ID = "sha256:" + "a" * 64
OTHER_IMAGE_ID = "sha256:" + "b" * 64
APPLIED_AT = 1_000.0
NOW = datetime(2026, 1, 31, 3, 0, tzinfo=UTC)

STACK = """
[stack]
name = "s"

[files.conf]
content = "port = 80\\n"

[volumes.data]

[networks.back]

[containers.web]
image = "img:1"
command = ["sleep", "600"]
env = { MODE = "a", PASSWORD = "{{ secret('PASSWORD') }}" }
labels = { tier = "front" }
ports = ["8080:80"]
memory = "64m"
restart = "always"
networks = ["back"]
volumes = ["data:/data"]
files = [{ source = "conf", target = "/etc/app.conf" }]
depends_on = ["migrate"]

[containers.worker]
image = "img:1"
stop_signal = "SIGKILL"
replicas = 2

[jobs.migrate]
image = "img:1"
command = ["true"]
"""


def load_stack(tmp_path: Path, text: str = STACK) -> LoadedStack:
    path = tmp_path / "hostform.toml"
    path.write_text(text, encoding="utf-8")
    return load(path, environ={"PASSWORD": "hunter2"})


def applied(loaded: LoadedStack, name: str, replica: int = 1, **changes: Any) -> ObservedContainer:
    """A container exactly as an apply of `loaded` leaves it."""
    stack = loaded.stack
    spec = stack.services()[name]
    kind = "job" if name in stack.jobs else "container"
    settings = LiveSettings(
        restart=spec.restart,
        memory=spec.memory,
        memory_reservation=spec.memory_reservation,
        cpus=spec.cpus,
        pids_limit=spec.pids_limit,
        networks=tuple((n, tuple(a)) for n, a in network_attachments(Naming(stack.name), name, spec)),
        env=tuple(sorted([(k, reveal(v)) for k, v in spec.env.items()] + [("PATH", "/bin")])),
        labels=tuple(sorted({**spec.labels, **names.owner_labels(stack.name, name, kind)}.items())),
        ports=tuple(f"0.0.0.0:{p.host_port}->{p.container_port}/{p.protocol}" for p in spec.ports),
    )
    files = tuple((f.target, file_digest(loaded.files[f.source].content, KEY)) for f in spec.files)
    container = ObservedContainer(
        id=f"{name}{replica}".ljust(64, "0"),
        engine_name=names.container_name(stack.name, name, replica, spec.replicas),
        name=name,
        kind=kind,
        replica=replica,
        image_id=IMAGE_ID,
        state="exited" if kind == "job" else "running",
        health=None,
        exit_code=0 if kind == "job" else None,
        last_applied=service_spec(loaded, name, KEY),
        spec_hash="h",
        settings=settings,
        file_hashes=files,
        created=APPLIED_AT,
    )
    return changed(container, **changes)


def host(loaded: LoadedStack, containers: list[ObservedContainer] | None = None, **changes: Any) -> Observed:
    """The whole stack as applied (every replica of every service), unless `containers` is given."""
    stack = loaded.stack
    if containers is None:
        containers = [applied(loaded, n, i) for n, s in stack.services().items() for i in range(1, s.replicas + 1)]
    networks = tuple(
        ObservedNetwork(
            f"net-{n}",
            names.network_name(stack.name, n),
            n,
            "bridge",
            False,
            False,
            None,
            {names.LABEL_STACK: stack.name, names.LABEL_NAME: n},
            created=APPLIED_AT,
        )
        for n in sorted({*stack.networks, names.DEFAULT_NETWORK})
    )
    volumes = tuple(ObservedVolume(names.volume_name(stack.name, v), v, "local") for v in stack.volumes)
    observed = Observed(stack.name, tuple(containers), networks, volumes, (), {"img:1": IMAGE_ID}, KEY)
    observed = replace(observed, record=record_of(observed))
    return replace(observed, **changes)


def record_of(observed: Observed, number: int = 3) -> Generation:
    """The record an apply leaves: every object of the host as it is."""
    resources = [
        RecordedResource(
            f"{c.kind}s.{c.name}" + (f"[{c.replica}]" if c.engine_name[-2:] in ("-1", "-2") else ""),
            c.kind,
            c.engine_name,
            c.spec_hash,
        )
        for c in observed.containers
    ]
    resources += [RecordedResource(f"networks.{n.name}", "network", n.engine_name, "d") for n in observed.networks]
    resources += [RecordedResource(f"volumes.{v.name}", "volume", v.engine_name, "d") for v in observed.volumes]
    return Generation(
        stack=observed.stack,
        number=number,
        operation="apply",
        at="2026-01-30T12:00:00Z",
        by="ops@build",
        version="0.1.0",
        commit=None,
        declaration="x",
        summary={},
        resources=tuple(resources),
        known={r.engine_name: number for r in resources},
    )


def check(loaded: LoadedStack, observed: Observed, pending: bool = False) -> DriftReport:
    plan = make_plan(loaded, observed)
    return detect(loaded, observed, plan, pending, NOW)


def summary(report: DriftReport) -> list[tuple[str, str, list[str]]]:
    return [(f.address, f.drift.value, [d.path for d in f.fields]) for f in report.findings]


def with_container(observed: Observed, name: str, **changes: Any) -> Observed:
    containers = tuple(changed(c, **changes) if c.name == name else c for c in observed.containers)
    return replace(observed, containers=containers)


def with_settings(observed: Observed, name: str, **changes: Any) -> Observed:
    c = next(c for c in observed.containers if c.name == name)
    assert c.settings is not None
    return with_container(observed, name, settings=changed(c.settings, **changes))


def without(observed: Observed, engine_name: str) -> Observed:
    return replace(observed, containers=tuple(c for c in observed.containers if c.engine_name != engine_name))


# ---------------------------------------------------------------- one case per kind of drift

Mutation = Callable[[Observed], Observed]
Expected = list[tuple[str, str, list[str]]]

CASES: dict[str, tuple[Mutation, Expected]] = {
    "in sync": (lambda o: o, []),
    "docker stop (SIGKILL)": (
        lambda o: with_container(o, "worker", state="exited", exit_code=137),
        [
            ("containers.worker[1]", "stopped", ["state", "exit_code"]),
            ("containers.worker[2]", "stopped", ["state", "exit_code"]),
        ],
    ),
    "any exit under restart = always": (
        lambda o: with_container(o, "web", state="exited", exit_code=0),
        [("containers.web", "stopped", ["state", "exit_code"])],
    ),
    "crash": (
        lambda o: with_container(o, "worker", state="exited", exit_code=3),
        [
            ("containers.worker[1]", "exited", ["state", "exit_code"]),
            ("containers.worker[2]", "exited", ["state", "exit_code"]),
        ],
    ),
    "out of memory is not a stop": (
        lambda o: with_container(o, "worker", state="exited", exit_code=137, oom_killed=True),
        [
            ("containers.worker[1]", "exited", ["state", "exit_code"]),
            ("containers.worker[2]", "exited", ["state", "exit_code"]),
        ],
    ),
    "paused": (
        lambda o: with_container(o, "web", state="paused"),
        [("containers.web", "stopped", ["state"])],
    ),
    "restart loop": (
        lambda o: with_container(o, "web", state="restarting", exit_code=1, restart_count=7),
        [("containers.web", "restarting", ["state", "exit_code"])],
    ),
    "unhealthy": (
        lambda o: with_container(o, "web", health="unhealthy", health_output="connection refused"),
        [("containers.web", "unhealthy", ["health"])],
    ),
    "docker update --memory": (
        lambda o: with_settings(o, "web", memory=128 * 2**20),
        [("containers.web", "changed", ["memory"])],
    ),
    "network disconnected": (
        lambda o: with_settings(o, "web", networks=()),
        [("containers.web", "changed", ["networks"])],
    ),
    "env changed by a hand-made copy": (
        lambda o: with_settings(o, "web", env=(("MODE", "b"), ("PASSWORD", "hunter2"))),
        [("containers.web", "changed", ["env.MODE"])],
    ),
    "secret env changed": (
        lambda o: with_settings(o, "web", env=(("MODE", "a"), ("PASSWORD", "guess"))),
        [("containers.web", "changed", ["env.PASSWORD"])],
    ),
    "label changed": (
        lambda o: with_settings(o, "web", labels=(("tier", "back"),)),
        [("containers.web", "changed", ["labels.tier"])],
    ),
    "port published elsewhere": (
        lambda o: with_settings(o, "web", ports=("0.0.0.0:9090->80/tcp",)),
        [("containers.web", "changed", ["ports"])],
    ),
    "config file edited in the container": (
        lambda o: with_container(o, "web", file_hashes=(("/etc/app.conf", "f" * 64),)),
        [("containers.web", "changed", ["files[/etc/app.conf].sha256"])],
    ),
    "config file deleted in the container": (
        lambda o: with_container(o, "web", file_hashes=(("/etc/app.conf", None),)),
        [("containers.web", "changed", ["files[/etc/app.conf].sha256"])],
    ),
    "tag moved to another image": (
        lambda o: replace(o, image_ids={"img:1": OTHER_IMAGE_ID}),
        [
            ("containers.web", "image", ["image_id"]),
            ("containers.worker[1]", "image", ["image_id"]),
            ("containers.worker[2]", "image", ["image_id"]),
            ("jobs.migrate", "image", ["image_id"]),
        ],
    ),
    "squatter on a declared name": (
        lambda o: replace(without(o, "s-web"), conflicts=(Conflict("container", "s-web", "x" * 64, None),)),
        [("containers.web", "squatter", [f"labels.{names.LABEL_STACK}"])],
    ),
    "another stack's container on a declared name": (
        lambda o: replace(without(o, "s-web"), conflicts=(Conflict("container", "s-web", "x" * 64, "other"),)),
        [("containers.web", "squatter", [f"labels.{names.LABEL_STACK}"])],
    ),
    "untracked container (no last-applied label)": (
        lambda o: with_container(o, "web", last_applied=None),
        [("containers.web", "changed", [f"labels.{names.LABEL_SPEC}"])],
    ),
    "failed job": (
        lambda o: with_container(o, "migrate", exit_code=2),
        [("jobs.migrate", "exited", ["state", "exit_code"])],
    ),
    "running job": (lambda o: with_container(o, "migrate", state="running", exit_code=None), []),
    "removed replica": (
        lambda o: without(o, "s-worker-2"),
        [("containers.worker[2]", "missing", [])],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_kind_of_drift(tmp_path: Path, case: str) -> None:
    mutate, expected = CASES[case]
    loaded = load_stack(tmp_path)
    report = check(loaded, mutate(host(loaded)))
    assert summary(report) == expected
    assert report.in_sync is (not expected)


def test_a_secret_never_shows(tmp_path: Path) -> None:
    loaded = load_stack(tmp_path)
    report = check(loaded, with_settings(host(loaded), "web", env=(("MODE", "a"), ("PASSWORD", "guess"))))
    (field,) = report.findings[0].fields
    assert (field.expected, field.live) == ("(secret)", "(secret)")
    assert "hunter2" not in repr(report) and "guess" not in repr(report)


def test_evidence_is_in_the_detail(tmp_path: Path) -> None:
    loaded = load_stack(tmp_path)
    o = host(loaded)
    unhealthy = check(loaded, with_container(o, "web", health="unhealthy", health_output="connection refused"))
    assert "connection refused" in unhealthy.findings[0].detail
    loop = check(loaded, with_container(o, "web", state="restarting", exit_code=1, restart_count=7))
    assert "7 restarts" in loop.findings[0].detail and "exit code 1" in loop.findings[0].detail
    stopped = check(loaded, with_container(o, "worker", state="exited", exit_code=137))
    assert "SIGKILL" in stopped.findings[0].detail
    oom = check(loaded, with_container(o, "worker", state="exited", exit_code=137, oom_killed=True))
    assert "out of memory" in oom.findings[0].detail


# ---------------------------------------------------------------- pending: the stack file moved, not the host


def test_a_changed_declaration_is_pending_not_drift(tmp_path: Path) -> None:
    old = load_stack(tmp_path)
    observed = host(old)
    new = load_stack(tmp_path, STACK.replace('MODE = "a"', 'MODE = "b"').replace('memory = "64m"', 'memory = "96m"'))
    report = check(new, observed)
    assert summary(report) == [("containers.web", "pending", ["env.MODE", "memory"])]
    assert report.in_sync and len(report.pending) == 1
    assert check(new, observed, pending=True).in_sync is False


def test_in_place_field_moved_by_hand_after_an_in_place_apply_is_drift(tmp_path: Path) -> None:
    # memory went 64m -> 96m by an in-place apply (the label still says 64m), then someone set 128m
    new = load_stack(tmp_path, STACK.replace('memory = "64m"', 'memory = "96m"'))
    old = load_stack(tmp_path, STACK)
    observed = with_settings(host(old), "web", memory=128 * 2**20)
    report = check(new, observed)
    assert summary(report) == [("containers.web", "changed", ["memory"])]


def test_new_resource_after_the_last_apply_is_pending(tmp_path: Path) -> None:
    old = load_stack(tmp_path)
    observed = host(old)
    new = load_stack(tmp_path, STACK + '\n[containers.cache]\nimage = "img:1"\n')
    report = check(new, observed)
    assert summary(report) == [("containers.cache", "pending", [])]
    assert "declared after the last recorded apply, generation 3" in report.findings[0].detail
    assert report.in_sync


def test_a_stack_never_applied_is_all_pending(tmp_path: Path) -> None:
    loaded = load_stack(tmp_path)
    empty = replace(host(loaded, []), networks=(), volumes=(), record=None)
    report = check(loaded, empty)
    assert {f.drift for f in report.findings} == {Drift.PENDING}
    assert report.in_sync and all("no apply of this stack is recorded" in f.detail for f in report.findings)


def test_without_a_record_a_removed_container_is_pending(tmp_path: Path) -> None:
    # applied by a hostform that kept no record: nothing says it was applied (the next apply starts the record)
    loaded = load_stack(tmp_path)
    report = check(loaded, replace(without(host(loaded), "s-web"), record=None))
    assert summary(report) == [("containers.web", "pending", [])]


# ---------------------------------------------------------------- missing: the record lists it


@pytest.mark.parametrize("gone", ["s-worker-2", "s-migrate", "s-web"])
def test_recorded_and_gone_is_missing(tmp_path: Path, gone: str) -> None:
    loaded = load_stack(tmp_path)
    report = check(loaded, without(host(loaded), gone))
    (finding,) = report.findings
    assert finding.drift is Drift.MISSING and "generation 3 (2026-01-30T12:00:00Z, ops@build)" in finding.detail


def test_removed_by_hand_after_a_stack_edit_is_missing(tmp_path: Path) -> None:
    # the stack file changed since the apply (mtime, git): no matter, the record lists it
    loaded = load_stack(tmp_path)
    observed = without(host(loaded), "s-web")
    edited = load_stack(tmp_path, STACK.replace('MODE = "a"', 'MODE = "b"'))
    assert summary(check(edited, observed)) == [("containers.web", "missing", [])]


def test_a_scale_down_leaves_no_missing(tmp_path: Path) -> None:
    # applied with replicas = 2 then scaled to 1: the record of that apply lists worker alone
    two = load_stack(tmp_path)
    observed = without(host(two), "s-worker-2")
    one = load_stack(tmp_path, STACK.replace("replicas = 2", "replicas = 1"))
    observed = replace(observed, record=record_of(observed, 4))
    assert check(one, observed).findings == ()


def test_recorded_no_longer_declared_and_gone_is_not_drift(tmp_path: Path) -> None:
    loaded = load_stack(tmp_path)
    observed = without(host(loaded), "s-worker-2")  # the record still lists it
    fewer = load_stack(tmp_path, STACK.replace("replicas = 2", "replicas = 1"))
    assert check(fewer, observed).findings == ()


def test_missing_network_and_volume(tmp_path: Path) -> None:
    loaded = load_stack(tmp_path)
    o = host(loaded)
    o = replace(o, networks=tuple(n for n in o.networks if n.name != "back"), volumes=())
    o = with_settings(o, "web", networks=())
    report = check(loaded, o)
    assert summary(report) == [
        ("containers.web", "changed", ["networks"]),
        ("networks.back", "missing", []),
        ("volumes.data", "missing", []),
    ]


def test_orphan_container_and_network(tmp_path: Path) -> None:
    old = load_stack(tmp_path)
    observed = host(old)
    new = load_stack(
        tmp_path,
        STACK.replace("replicas = 2", "replicas = 1")
        .replace("[networks.back]\n", "")
        .replace('networks = ["back"]\n', ""),
    )
    found = summary(check(new, observed))
    assert ("containers.worker[2]", "orphan", []) in found
    assert ("networks.back", "orphan", []) in found


def test_a_hand_made_copy_is_an_orphan_never_deleted(tmp_path: Path) -> None:
    loaded = load_stack(tmp_path)
    o = host(loaded)
    copy = changed(applied(loaded, "web"), id="c" * 64, engine_name="s-web-copy")
    net = replace(o.networks[0], id="n" * 64, engine_name="s_extra", name="extra")
    made = (("container", "s-web-copy"), ("network", "s_extra"))  # as observe finds them: in no generation
    o = replace(o, containers=(*o.containers, copy), networks=(*o.networks, net), hand_made=made)
    report = check(loaded, o)
    assert summary(report) == [("s-web-copy", "orphan", []), ("s_extra", "orphan", [])]
    assert all(f.remedy is Action.NOOP and "no apply recorded it" in f.detail for f in report.findings)
    plan = make_plan(loaded, o)
    assert plan.actionable == [] and len(plan.warnings) == 2


def test_the_default_network_is_recorded_like_any_other(tmp_path: Path) -> None:
    loaded = load_stack(tmp_path)
    o = host(loaded)
    o = replace(o, networks=tuple(n for n in o.networks if n.name != names.DEFAULT_NETWORK))
    report = check(loaded, o)
    assert ("networks.default", "missing", []) in summary(report)


# ---------------------------------------------------------------- the evidence as printed


def test_evidence_shows_only_what_differs(tmp_path: Path) -> None:
    """A failed job is `exited` as expected: its exit code tells, not `state: "exited" (expected
    "exited")`; a limit the stack file does not set is said so, not `expected (none)`."""
    from hostform.plans.drift_view import evidence_lines

    loaded = load_stack(tmp_path)
    (failed,) = check(loaded, with_container(host(loaded), "migrate", exit_code=2)).findings
    assert evidence_lines(failed) == ["exit_code: 2 (expected 0)"]
    (stopped, *_) = check(loaded, with_container(host(loaded), "worker", state="exited", exit_code=137)).findings
    assert evidence_lines(stopped) == ['state: "exited" (expected "running")', "exit_code: 137"]
    unlimited = load_stack(tmp_path, STACK.replace('memory = "64m"\n', ""))
    (lifted,) = check(unlimited, with_settings(host(unlimited), "web", memory=128 * 2**20)).findings
    assert evidence_lines(lifted) == ["memory: 128m (the stack file sets none)"]
    assert lifted.remedy is Action.REPLACE and "cannot lift a memory limit in place" in lifted.detail


def test_a_piped_report_is_not_wrapped_at_80_columns(tmp_path: Path) -> None:
    """Not on a terminal, a row is one line however long (a cron mail, a pipeline's log)."""
    import os
    import subprocess
    import sys

    loaded = load_stack(tmp_path)
    report = check(loaded, with_container(host(loaded), "worker", state="exited", exit_code=137))
    probe = (
        "import pickle, sys\n"
        "from hostform.plans.drift_view import print_report\n"
        "print_report(pickle.loads(sys.stdin.buffer.read()))\n"
    )
    import pickle

    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR", "TERM")}
    out = subprocess.run(
        [sys.executable, "-c", probe], input=pickle.dumps(report), capture_output=True, env=env, check=True
    ).stdout.decode()
    row = next(line for line in out.splitlines() if line.startswith("containers.worker[1]"))
    assert "stopped outside hostform (exit code 137: killed by SIGKILL)" in row, out
    assert max(len(line.rstrip()) for line in out.splitlines()) > 80
