"""Cross-reference checks: names, references, cycles, port clashes."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from hostform.declare import schema
from hostform.declare.check import check_references
from hostform.declare.errors import StackError
from hostform.declare.load import load
from hostform.declare.spec import Stack, plain_of


def stack(**kinds: Any) -> Stack:
    validated: Stack = plain_of(schema.Stack.model_validate({"stack": {"name": "t"}, **kinds}))
    return validated


def svc(**fields: Any) -> dict[str, Any]:
    return {"image": "busybox", **fields}


def messages(s: Stack) -> list[str]:
    return [message for _, message in check_references(s)]


def located(s: Stack) -> list[tuple[str, str]]:
    from hostform.declare.lines import format_path

    return [(format_path(loc), message) for loc, message in check_references(s)]


def test_a_consistent_stack_has_no_problems() -> None:
    s = stack(
        volumes={"data": {}},
        networks={"back": {}},
        files={"conf": {"content": "x"}},
        containers={
            "db": svc(volumes=["data:/d"], networks=["back"], healthcheck={"test": "true"}),
            "web": svc(
                files=[{"source": "conf", "target": "/etc/x"}],
                depends_on={"db": "healthy", "m": "completed"},
                networks=["default", "back"],
                ports=["8080:80"],
            ),
        },
        jobs={"m": svc(depends_on=["db"])},
    )
    assert check_references(s) == []


# ---------------------------------------------------------------- declared references


def test_undeclared_volume_network_file_and_dependency() -> None:
    s = stack(
        containers={
            "web": svc(
                volumes=["data:/d", "./host:/h"],
                networks={"back": {"aliases": ["w"]}},
                files=[{"source": "conf", "target": "/etc/x"}],
                depends_on=["api"],
            )
        }
    )
    assert located(s) == [
        ("containers.web.depends_on.api", "depends on 'api', which is not a declared container or job"),
        ("containers.web.volumes[0]", "volume 'data' is not declared (add [volumes.data])"),
        ("containers.web.networks.back", "network 'back' is not declared (add [networks.back])"),
        ("containers.web.files[0].source", "file 'conf' is not declared (add [files.conf])"),
    ]


def test_bind_mounts_need_no_declaration() -> None:
    assert check_references(stack(containers={"web": svc(volumes=["/etc:/host-etc:ro"])})) == []


def test_the_default_network_needs_no_declaration() -> None:
    assert check_references(stack(containers={"web": svc(networks=["default"])})) == []


def test_jobs_are_checked_too() -> None:
    s = stack(jobs={"m": svc(volumes=["data:/d"], depends_on=["db"])})
    assert [k for k, _ in located(s)] == ["jobs.m.depends_on.db", "jobs.m.volumes[0]"]


def test_self_dependency() -> None:
    assert messages(stack(containers={"a": svc(depends_on=["a"])})) == ["'a' cannot depend on itself"]


def test_completed_needs_a_job() -> None:
    s = stack(containers={"db": svc(), "web": svc(depends_on={"db": "completed"})})
    assert messages(s) == ["condition 'completed' needs a job, and 'db' is a container (use 'started' or 'healthy')"]


def test_healthy_needs_a_healthcheck_that_is_not_disabled() -> None:
    s = stack(containers={"db": svc(healthcheck={"disable": True}), "web": svc(depends_on={"db": "healthy"})})
    assert messages(s) == ["condition 'healthy' needs a healthcheck on 'db'"]


def test_two_mounts_with_one_target() -> None:
    s = stack(
        volumes={"data": {}},
        files={"conf": {"content": "x"}},
        containers={
            "web": svc(
                volumes=["data:/d", "./x:/d"],
                files=[{"source": "conf", "target": "/etc/c"}, {"source": "conf", "target": "/etc/c"}],
            )
        },
    )
    assert messages(s) == [
        "two mounts or files share the target '/d'",
        "two mounts or files share the target '/etc/c'",
    ]


# ---------------------------------------------------------------- names


@pytest.mark.parametrize("name", ["web app", "-web", "_web", "wéb", "a/b", "a:b"])
def test_invalid_names(name: str) -> None:
    for kind, spec in [
        ("containers", svc()),
        ("jobs", svc()),
        ("volumes", {}),
        ("networks", {}),
        ("files", {"content": "x"}),
    ]:
        (problem,) = located(stack(**{kind: {name: spec}}))
        assert problem[0] == f"{kind}.{name}"
        assert f"{name!r} is not a valid name" in problem[1]


@pytest.mark.parametrize("name", ["web", "web-1", "web_1", "web.1", "1web", "W"])
def test_valid_names(name: str) -> None:
    assert check_references(stack(containers={name: svc()})) == []


def test_a_name_is_a_container_or_a_job_not_both() -> None:
    assert located(stack(containers={"x": svc()}, jobs={"x": svc()})) == [
        ("jobs.x", "'x' is declared both as a container and as a job")
    ]


# ---------------------------------------------------------------- cycles


def test_two_node_cycle_is_reported_once() -> None:
    s = stack(containers={"web": svc(depends_on=["api"]), "api": svc(depends_on=["web"])})
    assert located(s) == [("containers.api.depends_on", "dependency cycle: api -> web -> api")]


def test_three_node_cycle_through_a_job() -> None:
    s = stack(
        containers={"web": svc(depends_on=["api"]), "api": svc(depends_on=["migrate"])},
        jobs={"migrate": svc(depends_on=["web"])},
    )
    assert messages(s) == ["dependency cycle: api -> migrate -> web -> api"]


def test_cycle_beside_a_healthy_chain() -> None:
    s = stack(
        containers={
            "a": svc(depends_on=["b"]),
            "b": svc(depends_on=["c"]),
            "c": svc(depends_on=["b"]),
            "d": svc(depends_on=["a"]),
        },
    )
    assert messages(s) == ["dependency cycle: b -> c -> b"]


def test_two_separate_cycles() -> None:
    s = stack(
        containers={
            "a": svc(depends_on=["b"]),
            "b": svc(depends_on=["a"]),
            "x": svc(depends_on=["y"]),
            "y": svc(depends_on=["x"]),
        }
    )
    assert messages(s) == ["dependency cycle: a -> b -> a", "dependency cycle: x -> y -> x"]


def test_diamond_is_not_a_cycle() -> None:
    s = stack(
        containers={
            "top": svc(depends_on=["l", "r"]),
            "l": svc(depends_on=["base"]),
            "r": svc(depends_on=["base"]),
            "base": svc(),
        }
    )
    assert check_references(s) == []


def test_cycle_line_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "hostform.toml"
    path.write_text(
        textwrap.dedent("""\
        [stack]
        name = "t"

        [containers.web]
        image = "x"
        depends_on = ["api"]

        [containers.api]
        image = "x"
        depends_on = ["web"]
        """)
    )
    with pytest.raises(StackError) as exc:
        load(path, environ={})
    (p,) = exc.value.problems
    assert str(p) == f"{path}:10: containers.api.depends_on: dependency cycle: api -> web -> api"


# ---------------------------------------------------------------- ports


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("8080:80", "8080:81"),
        ("0.0.0.0:8080:80", "8080:80"),
        ("127.0.0.1:8080:80", "8080:80"),
        ("8080:80", "127.0.0.1:8080:80"),
        ("127.0.0.1:8080:80", "127.0.0.1:8080:81"),
        ("8080:80/udp", "8080:80/udp"),
    ],
)
def test_two_containers_cannot_publish_one_host_port(first: str, second: str) -> None:
    s = stack(containers={"a": svc(ports=[first]), "b": svc(ports=[second])})
    (problem,) = located(s)
    assert problem[0] == "containers.b.ports[0]"
    assert "is already published by 'a'" in problem[1]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("8080:80", "8080:80/udp"),
        ("127.0.0.1:8080:80", "127.0.0.2:8080:80"),
        ("8080:80", "8081:80"),
        ("80", "80"),  # the engine picks the host ports
    ],
)
def test_different_host_ports_ips_or_protocols_coexist(first: str, second: str) -> None:
    assert check_references(stack(containers={"a": svc(ports=[first]), "b": svc(ports=[second])})) == []


def test_a_job_and_a_container_clash_too() -> None:
    s = stack(containers={"web": svc(ports=["8080:80"])}, jobs={"seed": svc(ports=["8080:80"])})
    assert messages(s) == ["host port 8080/tcp is already published by 'web'"]


def test_replicas_cannot_share_a_fixed_host_port() -> None:
    s = stack(containers={"w": svc(replicas=2, ports=["8080:80"])})
    assert messages(s) == ["2 replicas cannot all publish host port 8080"]
    assert check_references(stack(containers={"w": svc(replicas=2, ports=["80"])})) == []


def test_start_first_with_a_fixed_host_port_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(
        '[stack]\nname = "t"\n[containers.web]\nimage = "x"\nports = ["8080:80"]\nupdate = { order = "start-first" }\n'
    )
    with pytest.raises(StackError) as exc:
        load(path, environ={})
    (p,) = exc.value.problems
    assert p.key == "containers.web" and p.line == 3
    assert "update.order = 'start-first' needs a container without fixed host ports" in p.message


@pytest.mark.parametrize(
    ("ports", "index"),
    [
        (["18020:80", "18020:81"], 1),
        (["18020:80", "18020:80"], 1),
        (["18020:80", "127.0.0.1:18020:81"], 1),
        (["127.0.0.1:18020:80/udp", "18020:81/udp"], 1),
    ],
)
def test_one_container_cannot_publish_one_host_port_twice(ports: list[str], index: int) -> None:
    (problem,) = located(stack(containers={"web": svc(ports=ports)}))
    assert problem[0] == f"containers.web.ports[{index}]"
    assert problem[1].startswith("host port 18020/") and "is published twice by 'web' (also by ports[0])" in problem[1]


@pytest.mark.parametrize("ports", [["18020:80", "18020:80/udp"], ["127.0.0.1:18020:80", "127.0.0.2:18020:81"]])
def test_one_container_may_publish_a_port_per_protocol_and_address(ports: list[str]) -> None:
    assert check_references(stack(containers={"web": svc(ports=ports)})) == []


def test_a_port_published_twice_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[stack]\nname = "t"\n[containers.web]\nimage = "x"\nports = ["18020:80", "18020:81"]\n')
    with pytest.raises(StackError) as exc:
        load(path, environ={})
    (p,) = exc.value.problems
    assert (p.key, p.line) == ("containers.web.ports[1]", 5)
    assert p.message == "host port 18020/tcp is published twice by 'web' (also by ports[0])"


# ---------------------------------------------------------------- engine names


def test_a_replica_name_taken_by_another_container() -> None:
    s = stack(containers={"w": svc(replicas=2), "w-2": svc()})
    assert located(s) == [
        (
            "containers.w-2",
            "engine name 't-w-2' would be used by containers.w-2 and by containers.w (replica 2); rename one of them",
        )
    ]


def test_every_clash_is_reported_naming_both_resources() -> None:
    s = stack(containers={"w": svc(replicas=3), "w-1": svc(), "w-3": svc(replicas=2)}, jobs={"w-2": svc()})
    assert messages(s) == [
        "engine name 't-w-1' would be used by containers.w-1 and by containers.w (replica 1); rename one of them",
        "engine name 't-w-3' would be used by containers.w-3 (replica 1 keeps this name when replicas grow) "
        "and by containers.w (replica 3); rename one of them",
        "engine name 't-w-2' would be used by jobs.w-2 and by containers.w (replica 2); rename one of them",
    ]


def test_the_name_replica_one_keeps_counts_too() -> None:
    # `a-1` with two replicas runs as t-a-1-1 and t-a-1-2, and replica 1 may keep t-a-1
    s = stack(containers={"a": svc(replicas=2), "a-1": svc(replicas=2)})
    assert located(s) == [
        (
            "containers.a-1",
            "engine name 't-a-1' would be used by containers.a-1 (replica 1 keeps this name when replicas grow) "
            "and by containers.a (replica 1); rename one of them",
        )
    ]
    s = stack(containers={"a": svc(replicas=2)}, jobs={"a-1-1": svc()})
    assert messages(s) == []  # t-a-1-1 is not a name of `a`
    s = stack(containers={"a-1": svc(replicas=2)}, jobs={"a-1-1": svc()})
    assert located(s)[0][0] == "jobs.a-1-1"


@pytest.mark.parametrize(
    "containers",
    [
        {"w": {}, "w-2": {}},  # one replica each: t-w and t-w-2
        {"w": {"replicas": 2}, "w-3": {}},
        {"w": {"replicas": 0}, "w-1": {}},  # no container at all
        {"web": {"replicas": 2}, "web2": {"replicas": 2}},
    ],
)
def test_names_that_do_not_clash(containers: dict[str, dict[str, Any]]) -> None:
    assert check_references(stack(containers={n: svc(**f) for n, f in containers.items()})) == []


def test_a_container_and_a_job_of_one_name_are_reported_once() -> None:
    s = stack(containers={"x": svc()}, jobs={"x": svc()})
    assert messages(s) == ["'x' is declared both as a container and as a job"]


def test_an_engine_name_clash_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[stack]\nname = "t"\n[containers.w]\nimage = "x"\nreplicas = 2\n\n[containers.w-2]\nimage = "x"\n')
    with pytest.raises(StackError) as exc:
        load(path, environ={})
    (p,) = exc.value.problems
    assert (p.key, p.line) == ("containers.w-2", 7)
    assert "'t-w-2'" in p.message and "containers.w (replica 2)" in p.message


# ---------------------------------------------------------------- reserved labels


@pytest.mark.parametrize(
    ("kinds", "key"),
    [
        (
            {"containers": {"web": svc(labels={"io.hostform.stack": "other"})}},
            "containers.web.labels.io.hostform.stack",
        ),
        ({"jobs": {"m": svc(labels=["io.hostform.spec=x"])}}, "jobs.m.labels.io.hostform.spec"),
        ({"networks": {"n": {"labels": {"io.hostform.kind": "x"}}}}, "networks.n.labels.io.hostform.kind"),
        ({"volumes": {"v": {"labels": {"io.hostform.anything": "x"}}}}, "volumes.v.labels.io.hostform.anything"),
    ],
)
def test_labels_under_io_hostform_are_reserved(kinds: dict[str, Any], key: str) -> None:
    (problem,) = located(stack(**kinds))
    assert problem[0] == key
    assert problem[1].endswith("labels under io.hostform. are hostform's own")


@pytest.mark.parametrize("label", ["io.hostform", "io.hostformx.a", "com.example.io.hostform.a", "IO.HOSTFORM.A"])
def test_other_labels_are_the_users(label: str) -> None:
    s = stack(containers={"web": svc(labels={label: "x"})}, volumes={"v": {"labels": {label: "x"}}})
    assert check_references(s) == []


def test_a_reserved_label_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('[stack]\nname = "t"\n[containers.web]\nimage = "x"\nlabels = { "io.hostform.name" = "db" }\n')
    with pytest.raises(StackError) as exc:
        load(path, environ={})
    (p,) = exc.value.problems
    assert (p.key, p.line) == ("containers.web.labels.io.hostform.name", 5)
    assert p.message == "label 'io.hostform.name': labels under io.hostform. are hostform's own"
