"""Rollback: a replacement whose new container fails leaves the old one serving, untouched."""

from __future__ import annotations

import pytest

from tests.integration.conftest import StackFixture
from tests.integration.test_convergence_support import (  # noqa: F401 - conv_image and convergence_stack are fixtures
    FAST_HTTP_HEALTH,
    HTTPD_COMMAND,
    IMAGE,
    SLEEPER,
    conv_image,
    convergence_stack,
    exec_out,
    free_port,
    health,
    http_get,
    names_of,
    temporaries,
    wait_until,
)

FAILING_HEALTH = health('["CMD-SHELL", "echo probe-$((2+3))-says-no; exit 1"]', retries=2)
BROKEN_COMMAND = '["sh", "-c", "echo new-broken-$((6*7)); exit 1"]'


def _web(order: str, command: str = HTTPD_COMMAND, health: str = FAST_HTTP_HEALTH, port: int | None = None) -> str:
    ports = f'ports = ["127.0.0.1:{port}:8080"]\n' if port else ""
    return f"""
[containers.web]
image = "{IMAGE}"
command = {command}
env = {{ VERSION = "v1" }}
stop_signal = "SIGKILL"
update = {{ order = "{order}" }}
{health}{ports}
[containers.probe]
{SLEEPER}"""


def _serves_v1(stack: StackFixture, port: int | None) -> bool:
    """The old container answers where clients look: the host port, or its name on the stack network."""
    if port:
        return http_get(port) == "v1"
    return exec_out(stack, f"{stack.name}-probe", "wget", "-q", "-O", "-", "http://web:8080/") == "v1"


CASES = {
    # stop-first needs no free host port; it is given one to show the old container gets it back
    "stop-first, new command exits 1": (
        "stop-first",
        BROKEN_COMMAND,
        FAST_HTTP_HEALTH,
        ["exited with code 1", "new-broken-42", "rolled back"],
    ),
    "stop-first, healthcheck never passes": (
        "stop-first",
        HTTPD_COMMAND,
        FAILING_HEALTH,
        ["is unhealthy", "probe-5-says-no", "rolled back"],
    ),
    "start-first, new command exits 1": (
        "start-first",
        BROKEN_COMMAND,
        FAST_HTTP_HEALTH,
        ["exited with code 1", "new-broken-42", "keeps serving"],
    ),
    "start-first, healthcheck never passes": (
        "start-first",
        HTTPD_COMMAND,
        FAILING_HEALTH,
        ["is unhealthy", "probe-5-says-no", "keeps serving"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_failed_replacement_keeps_the_old_container(stack: StackFixture, case: str) -> None:
    order, command, health, reasons = CASES[case]
    port = free_port() if order == "stop-first" else None
    stack.write(_web(order, port=port))
    stack.apply()
    web = f"{stack.name}-web"
    old = stack.inspect(web)
    wait_until(lambda: _serves_v1(stack, port), 10, "the old container serving")

    stack.write(_web(order, command, health, port))
    result = stack.apply(check=False)
    assert result.code == 1, result.both
    for reason in reasons:
        assert reason in result.err, result.err
    assert "Traceback" not in result.both

    now = stack.inspect(web)
    assert now["Id"] == old["Id"], "the old container was replaced"
    assert now["State"]["Running"]
    assert now["Name"] == f"/{web}"
    if order == "start-first":  # it never stopped
        assert now["State"]["StartedAt"] == old["State"]["StartedAt"]
    assert wait_until(lambda: _serves_v1(stack, port), 10, "the old container serving again")
    assert temporaries(stack) == []
    assert names_of(stack) == sorted([web, f"{stack.name}-probe"])

    # and the failed change is still pending, so a fixed declaration converges
    assert stack.plan().code == 2
    stack.write(_web(order, port=port))
    assert stack.plan().code == 0
