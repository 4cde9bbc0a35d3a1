"""`route` in a stack: validation with the key's path, and the planner's view of the edge proxy
(a missing proxy, a TLS route without a TLS listener, one host and path claimed twice)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostform.declare.errors import StackError
from hostform.declare.load import load
from hostform.plans.diff import make_plan
from hostform.runtime.records import Observed
from hostform.runtime.routes import Edge, EdgeView, RouteEntry


def _stack(tmp_path: Path, body: str) -> Path:
    file = tmp_path / "hostform.toml"
    file.write_text(f'[stack]\nname = "shop"\n\n{body}', encoding="utf-8")
    return file


def _errors(tmp_path: Path, body: str) -> list[str]:
    with pytest.raises(StackError) as caught:
        load(_stack(tmp_path, body))
    return caught.value.lines()


@pytest.mark.parametrize(
    ("route", "key", "words"),
    [
        ('{ host = "bad host", port = 80 }', "containers.web.route.host", "is not a host name"),
        ('{ host = "a.test", port = 0 }', "containers.web.route.port", ""),
        ('{ host = "a.test", port = 80, path = "api" }', "containers.web.route.path", "must start with '/'"),
        ('{ host = "a.test", port = 80, tls = { cert = "c.pem" } }', "containers.web.route.tls", "'key'"),
        (
            '{ host = "a.test", port = 80, tls = { cert = "c.pem", cert_secret = "C", key = "k.pem" } }',
            "containers.web.route.tls",
            "exactly one of 'cert'",
        ),
        ('{ host = "a.test", port = 80, hots = 1 }', "containers.web.route", "hots"),
    ],
)
def test_a_bad_route_is_one_error_naming_its_key(tmp_path: Path, route: str, key: str, words: str) -> None:
    lines = _errors(tmp_path, f'[containers.web]\nimage = "x:1"\nroute = {route}\n')
    assert len(lines) == 1, lines
    assert key in lines[0] and words in lines[0], lines


def test_a_tls_file_outside_the_stack_folder_is_refused(tmp_path: Path) -> None:
    lines = _errors(
        tmp_path,
        '[containers.web]\nimage = "x:1"\nroute = { host = "a.test", port = 80, '
        'tls = { cert = "/etc/passwd", key = "k.pem" } }\n',
    )
    assert any("containers.web.route.tls.cert" in line for line in lines), lines


def test_route_on_a_job_and_on_swarm_are_refused(tmp_path: Path) -> None:
    lines = _errors(tmp_path, '[jobs.migrate]\nimage = "x:1"\nroute = { host = "a.test", port = 80 }\n')
    assert any("jobs.migrate.route" in line and "runs once" in line for line in lines), lines
    file = _stack(tmp_path, '[containers.web]\nimage = "x:1"\nroute = { host = "a.test", port = 80 }\n')
    with pytest.raises(StackError) as caught:
        load(file, target="swarm")
    assert any("containers.web.route" in line and "Swarm" in line for line in caught.value.lines())


def _observed(edge: Edge | None) -> Observed:
    return Observed("shop", (), (), (), (), {"x:1": "sha256:" + "1" * 64}, None, edge=EdgeView("px", edge))


def _conflicts(tmp_path: Path, body: str, edge: Edge | None) -> tuple[str, ...]:
    loaded = load(_stack(tmp_path, body))
    return make_plan(loaded, _observed(edge)).conflicts


def test_a_route_without_a_proxy_is_a_plan_error(tmp_path: Path) -> None:
    body = '[containers.web]\nimage = "x:1"\nroute = { host = "a.test", port = 80 }\n'
    (conflict,) = _conflicts(tmp_path, body, None)
    assert "no edge proxy 'px'" in conflict and "hostform proxy up --name px" in conflict


def test_a_host_and_path_claimed_by_another_stack_or_twice_names_both(tmp_path: Path) -> None:
    theirs = RouteEntry("blog", "front", "a.test", "/", 80)
    edge = Edge("px", "abc", https=False, routes={theirs.backend: theirs})
    body = (
        '[containers.web]\nimage = "x:1"\nroute = { host = "a.test", port = 80 }\n'
        '[containers.api]\nimage = "x:1"\nroute = { host = "b.test", port = 80, path = "/v1" }\n'
        '[containers.api2]\nimage = "x:1"\nroute = { host = "b.test", port = 81, path = "/v1" }\n'
        '[containers.other]\nimage = "x:1"\nroute = { host = "b.test", port = 81, path = "/v2" }\n'
    )
    conflicts = _conflicts(tmp_path, body, edge)
    assert conflicts == (
        "route a.test/ of stack 'shop' containers.web is already served for stack 'blog' containers.front",
        "route b.test/v1 of stack 'shop' containers.api2 is already served for stack 'shop' containers.api",
    )


def test_a_tls_route_needs_a_tls_listener(tmp_path: Path) -> None:
    (tmp_path / "c.pem").write_text("cert")
    (tmp_path / "k.pem").write_text("key")
    body = (
        '[containers.web]\nimage = "x:1"\n'
        'route = { host = "a.test", port = 80, tls = { cert = "c.pem", key = "k.pem" } }\n'
    )
    (conflict,) = _conflicts(tmp_path, body, Edge("px", "abc", https=False))
    assert "has no TLS listener" in conflict and "--https" in conflict
    assert _conflicts(tmp_path, body, Edge("px", "abc", https=True)) == ()
