"""The edge proxy on a real engine, with real HAProxy (hostform-test/debian:1, built offline by
scripts/debian-image) and real HTTP load from a thread pool to a loopback port: replacements
under load fail no request, a new version that never becomes healthy leaves the old one
serving, stacks share one proxy, a new route drops no connection, a claimed route is a plan
error, TLS with a certificate made here, drift of a hand-changed proxy, destroy removes routes."""

from __future__ import annotations

import http.client
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import StackFixture, remove_stack_objects, run_cli
from tests.integration.edge_load import Load, app_container, get
from tests.integration.test_convergence_support import unusual_port

DEBIAN = "hostform-test/debian:1"


@dataclass
class Proxy:
    name: str
    http: int
    https: int

    @property
    def env(self) -> dict[str, str]:
        return {"HOSTFORM_PROXY": self.name}

    def api(self, docker_api, command: str) -> str:  # type: ignore[no-untyped-def]
        script = 'exec 3<>/dev/tcp/127.0.0.1/9999 && printf "%s\\n" "$1" >&3 && cat <&3'
        made = docker_api.exec_create(f"{self.name}-haproxy", ["bash", "-c", script, "-", command])
        return str(docker_api.exec_start(made["Id"]).decode())

    def status(self) -> dict:  # type: ignore[type-arg]
        result = run_cli("proxy", "status", "--name", self.name, "--json", check=True)
        return dict(json.loads(result.out))


@pytest.fixture(scope="module")
def proxy(docker_api) -> Iterator[Proxy]:  # type: ignore[no-untyped-def]
    try:
        docker_api.inspect_image(DEBIAN)
    except Exception:  # noqa: BLE001
        message = f"image {DEBIAN} is missing: run scripts/debian-image"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    found = Proxy(f"hfpx{uuid.uuid4().hex[:8]}", unusual_port(), unusual_port())
    http, https = f"127.0.0.1:{found.http}", f"127.0.0.1:{found.https}"
    run_cli("proxy", "up", "--name", found.name, "--http", http, "--https", https, "--image", DEBIAN, check=True)
    yield found
    down = run_cli("proxy", "down", "--name", found.name, "--volumes")
    remove_stack_objects(docker_api, found.name)
    assert down.code == 0, down.both


@pytest.fixture
def web(stack: StackFixture, proxy: Proxy) -> StackFixture:
    stack.env.update(proxy.env)
    return stack


@pytest.fixture
def other(docker_api, tmp_path: Path, proxy: Proxy) -> Iterator[StackFixture]:  # type: ignore[no-untyped-def]
    name = f"hft{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "other"
    folder.mkdir()
    yield StackFixture(name, folder, docker_api, {"XDG_CACHE_HOME": f"{tmp_path}-cache2", **proxy.env})
    remove_stack_objects(docker_api, name)


def _host(stack: StackFixture) -> str:
    return f"{stack.name}.test"


def test_replacements_under_load_fail_no_request_and_finish_the_ones_in_flight(web: StackFixture, proxy: Proxy) -> None:
    host = _host(web)
    web.write(app_container(host, "v1"))
    web.apply()
    assert get(proxy.http, host)[:2] == (200, "v1 /\n")
    slow: list[tuple[int, str, float]] = []
    with Load(proxy.http, host, rate=40, workers=8) as load:
        for version in ("v2", "v3"):
            # a request that takes 5 s, in flight on the old container when the switch starts
            t = threading.Thread(target=lambda: slow.append(get(proxy.http, host, "/slow")))
            t.start()
            web.write(app_container(host, version))
            result = web.apply()
            assert "+/-" in result.out
            t.join()
    assert load.failures == [], load.failures[:5]
    assert load.answers["v1"] and load.answers["v3"], load.answers
    assert [(code, body.split()[0]) for code, body, _ in slow] == [(200, "v1"), (200, "v2")]
    assert all(took >= 4.5 for _, _, took in slow)
    routes = [r for r in proxy.status()["routes"] if r["stack"] == web.name]
    assert len(routes) == 1 and [s["state"] for s in routes[0]["servers"]] == ["ready"]
    assert web.plan().code == 0  # converged: the route matches the proxy


def test_a_new_version_that_never_becomes_healthy_leaves_the_old_one_serving(web: StackFixture, proxy: Proxy) -> None:
    host = _host(web)
    web.write(app_container(host, "v1"))
    web.apply()
    with Load(proxy.http, host, rate=40, workers=8) as load:
        web.write(app_container(host, "v2").replace('VERSION = "v2"', 'VERSION = "v2", UNHEALTHY = "1"'))
        result = web.apply(check=False)
    assert result.code == 1, result.both
    assert "keeps serving" in result.both
    assert load.failures == [], load.failures[:5]
    assert set(load.answers) == {"v1"}, load.answers
    assert len(web.containers()) == 1  # the new one is gone
    routes = [r for r in proxy.status()["routes"] if r["stack"] == web.name]
    assert [s["state"] for s in routes[0]["servers"]] == ["ready"]


def test_stacks_share_the_proxy_a_new_route_drops_no_connection_and_a_claimed_route_is_refused(
    web: StackFixture, other: StackFixture, proxy: Proxy
) -> None:
    host = _host(web)
    web.write(app_container(host, "a1"))
    web.apply()
    with Load(proxy.http, host, rate=40, workers=8) as load:
        other.write(app_container(_host(other), "b1"))  # a new route: the proxy reloads
        other.apply()
        assert get(proxy.http, _host(other))[:2] == (200, "b1 /\n")
    assert load.failures == [], load.failures[:5]
    assert set(load.answers) == {"a1"}
    assert get(proxy.http, "nobody.test")[0] == 404

    other.write(app_container(host, "b2"))  # now claims the first stack's host
    result = other.plan()
    assert result.code == 1, result.both
    assert f"route {host}/ of stack {other.name!r} containers.web is already served for stack {web.name!r}" in (
        result.both
    )
    assert get(proxy.http, host)[:2] == (200, "a1 /\n")

    destroyed = other.run("destroy", str(other.file), "--auto-approve", check=True)
    assert "Destroy complete" in destroyed.out
    assert get(proxy.http, _host(other))[0] == 404
    assert {r["stack"] for r in proxy.status()["routes"]} >= {web.name} and other.name not in {
        r["stack"] for r in proxy.status()["routes"]
    }


def test_a_server_changed_by_hand_is_drift_and_fixed(web: StackFixture, proxy: Proxy, docker_api) -> None:  # type: ignore[no-untyped-def]
    host = _host(web)
    web.write(app_container(host, "v1"))
    web.apply()
    server = next(r for r in proxy.status()["routes"] if r["stack"] == web.name)["servers"][0]["name"]
    proxy.api(docker_api, f"set server {web.name}.web/{server} state maint")
    assert get(proxy.http, host)[0] == 503
    drift = web.run("drift", str(web.file), "--json")
    assert drift.code == 2, drift.both
    assert "route" in drift.out
    web.run("drift", str(web.file), "--fix", "--auto-approve", check=True)
    assert get(proxy.http, host)[:2] == (200, "v1 /\n")
    assert web.plan().code == 0


def _self_signed(folder: Path, host: str) -> tuple[Path, Path]:
    cert, key = folder / "certs" / "site.pem", folder / "certs" / "site.key"
    cert.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={host}"]
        + ["-addext", f"subjectAltName=DNS:{host}", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


def _https_get(port: int, host: str, cafile: Path) -> tuple[str, str]:
    """GET / over TLS with SNI `host`, the certificate checked against `cafile`: (peer CN, body)."""
    context = ssl.create_default_context(cafile=str(cafile))
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with raw, context.wrap_socket(raw, server_hostname=host) as tls:
        tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := tls.recv(65536):
            data += chunk
        subject = dict(x[0] for x in tls.getpeercert()["subject"])  # type: ignore[index, misc]
    return str(subject["commonName"]), data.decode().split("\r\n\r\n", 1)[1]


def test_tls_from_files_per_host_with_http_redirected(web: StackFixture, proxy: Proxy) -> None:
    host = _host(web)
    cert, key = _self_signed(web.dir, host)
    web.env["SITE_KEY"] = key.read_text()  # the key as a secret, the certificate as a file
    key.unlink()
    tls = '\n[containers.web.route.tls]\ncert = "certs/site.pem"\nkey_secret = "SITE_KEY"\n'
    body = app_container(host, "s1").replace(f'route = {{ host = "{host}", port = 8000 }}\n', "")
    web.write(body + f'\n[containers.web.route]\nhost = "{host}"\nport = 8000\n' + tls)
    plan = web.plan()
    assert plan.code == 2, plan.both
    assert "PRIVATE KEY" not in plan.both
    web.apply()
    assert _https_get(proxy.https, host, cert) == (host, "s1 /\n")
    status, _, _ = get(proxy.http, host)
    assert status == 301
    conn = http.client.HTTPConnection("127.0.0.1", proxy.http, timeout=10)
    conn.request("GET", "/x?y=1", headers={"Host": host})
    assert conn.getresponse().getheader("Location") == f"https://{host}:{proxy.https}/x?y=1"
    assert "PRIVATE KEY" not in json.dumps(web.inspect(f"{web.name}-web")["Config"]["Labels"])


def test_start_first_without_a_route_keeps_both_answering_the_name_for_the_drain(stack: StackFixture) -> None:
    body = """
[containers.web]
image = "hostform-test/busybox:1"
command = ["httpd", "-f", "-p", "8000", "-h", "/"]
env = {{ V = "{v}" }}
update = {{ order = "start-first", drain = "3s" }}
healthcheck = {{ test = "wget -q -O /dev/null http://127.0.0.1:8000/etc/passwd", interval = "1s" }}
stop_grace_period = "1s"
"""
    stack.write(body.format(v=1))
    stack.apply()
    network = f"{stack.name}_default"
    both: list[float] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            answering = 0
            for c in stack.containers():
                info = stack.inspect(c["Id"])
                endpoint = (info["NetworkSettings"]["Networks"] or {}).get(network) or {}
                answering += "web" in (endpoint.get("Aliases") or [])
            if answering == 2:
                both.append(time.monotonic())
            time.sleep(0.1)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        stack.write(body.format(v=2))
        stack.apply()
    finally:
        done.set()
        watcher.join()
    assert both and both[-1] - both[0] >= 2.5, both
    assert len(stack.containers()) == 1
