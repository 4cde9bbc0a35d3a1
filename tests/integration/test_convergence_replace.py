"""Replacement: stop-first (the default) and start-first, watched by a client that keeps asking.

How the start-first proof works. start-first is only allowed without a fixed
host port, so a client on the host has nothing stable to poll. The client
therefore runs inside the stack's network, as the container `client`: a shell
loop that asks http://web:8080/ back to back, resolving `web` through Docker's
DNS on every request (busybox nc; busybox wget crashes on its timeout option),
one line per request. That is what a neighbour service sees. It starts only
once web is healthy (depends_on), so every line counts.

The web server is slow on both ends, like real ones: it listens only a second
after it starts, and on SIGTERM it closes its listener and lingers a second
before exiting. So a replacement that lets clients reach the new container
before it is ready, or keeps the old one in DNS while it shuts down, refuses
requests for a whole second (a plain start-first did both).

Claim proven: no request fails. The client retries a request once, at once,
when its connection fails, as HTTP clients retry an idempotent GET; a retry
cannot bridge a second-long gap, so each ordering fault above still shows, and
the stop-first control below shows failures. The retry covers what Docker
cannot avoid: DNS publishes a name a few milliseconds before the container's
network is up, and drops the old container only by taking it off the network,
which cuts a request in flight to it at that instant. First attempts that
needed the retry are counted and bounded (two per cut-over).
"""

from __future__ import annotations

from tests.integration.conftest import StackFixture
from tests.integration.test_convergence_support import (  # noqa: F401 - conv_image and convergence_stack are fixtures
    FAST_HTTP_HEALTH,
    HTTP_PROBE,
    HTTPD_COMMAND,
    IMAGE,
    conv_image,
    convergence_stack,
    events,
    free_port,
    health,
    http_get,
    temporaries,
    wait_until,
)

# One line per request: "ok <body>", "RETRY <why>" then "ok <body>" when the first
# attempt failed, "FAIL <why> / <why>" when the retry failed too. An attempt with
# no answer in 8s is killed (a request cut in flight would hang forever).
POLL_SCRIPT = r"""#!/bin/sh
exec 2>/dev/null  # the shell's job notices ("Terminated") are not requests
ask() {
  printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 8 web 8080 >/tmp/r 2>/tmp/e &
  pid=$!
  { sleep 8; kill $pid; } >/dev/null &  # not holding the $(ask) pipe open
  dog=$!
  wait $pid
  kill $dog
  grep -q "200 OK" /tmp/r && return 0
  why="$(tr '\n' ' ' </tmp/e)$(head -n 1 /tmp/r)"
  echo "${why:-no answer}"
  return 1
}
while true; do
  if why=$(ask); then echo "ok $(tail -n 1 /tmp/r)"
  elif again=$(ask); then echo "RETRY $why"; echo "ok $(tail -n 1 /tmp/r)"
  else echo "FAIL $why / $again"; fi
done
"""

# Listens a second after starting; on SIGTERM stops listening, lingers a second, exits.
SLOW_HTTPD = (
    '["sh", "-c", "trap \'kill $pid; sleep 1; exit 0\' TERM; sleep 1; mkdir -p /www; '
    'echo $VERSION > /www/index.html; httpd -f -p 8080 -h /www & pid=$!; wait $pid"]'
)
SLOW_HEALTH = health(HTTP_PROBE, start_period="10s")


def _web(version: str, order: str = "", ports: str = "") -> str:
    return f"""
[containers.web]
image = "{IMAGE}"
command = {HTTPD_COMMAND}
env = {{ VERSION = "{version}" }}
stop_signal = "SIGKILL"
{FAST_HTTP_HEALTH}{f'update = {{ order = "{order}" }}' if order else ""}
{f'ports = ["127.0.0.1:{ports}:8080"]' if ports else ""}
"""


def test_stop_first_replaces_in_place_on_a_fixed_host_port(stack: StackFixture) -> None:
    port = free_port()
    stack.write(_web("v1", ports=str(port)))
    stack.apply()
    before = stack.inspect(f"{stack.name}-web")["Id"]
    assert wait_until(lambda: http_get(port) == "v1", 10, "v1 on the host port")

    stack.write(_web("v2", ports=str(port)))
    assert f"-/+ container {stack.name}-web" in stack.plan().out  # the plan says: stop first
    result = stack.apply("--json")
    replaced = [e for e in events(result.out) if e.get("address") == "containers.web"]
    steps = [("started", "replace"), ("progress", "replace"), ("finished", "replace")]
    assert [(e["event"], e["action"]) for e in replaced] == steps
    assert replaced[1]["message"].startswith(f"stopping old {stack.name}-web (grace ")  # the wait is said
    # the new container binds the very host port the old one held: the old was stopped first
    assert http_get(port) == "v2"
    after = stack.inspect(f"{stack.name}-web")
    assert after["Id"] != before and after["State"]["Running"]
    assert temporaries(stack) == []
    assert stack.plan().code == 0


def _watched_web(version: str, order: str) -> str:
    return f"""
[containers.web]
image = "{IMAGE}"
command = {SLOW_HTTPD}
env = {{ VERSION = "{version}" }}
stop_grace_period = "5s"
{SLOW_HEALTH}update = {{ order = "{order}" }}

[files.poll]
content = '''{POLL_SCRIPT}'''

[containers.client]
image = "{IMAGE}"
command = ["/poll.sh"]
files = [{{ source = "poll", target = "/poll.sh", mode = "0755" }}]
stop_signal = "SIGKILL"
depends_on = {{ web = "healthy" }}
"""


def _poll_log(stack: StackFixture) -> list[str]:
    raw = stack.api.logs(f"{stack.name}-client", stdout=True, stderr=True)  # type: ignore[attr-defined]
    return [line.strip() for line in raw.decode(errors="replace").splitlines() if line.strip()]


def _tally(lines: list[str]) -> tuple[dict[str, int], list[str], list[str]]:
    """Answers per version, failed requests, first attempts that needed the retry."""
    versions: dict[str, int] = {}
    for line in lines:
        if line.startswith("ok "):
            versions[line[3:]] = versions.get(line[3:], 0) + 1
    return versions, [x for x in lines if x.startswith("FAIL")], [x for x in lines if x.startswith("RETRY")]


def _replace_watched(stack: StackFixture, version: str, order: str) -> list[str]:
    """Replace web, wait until the poller answers from the new version; its lines meanwhile."""
    mark = len(_poll_log(stack))
    stack.write(_watched_web(version, order))
    stack.apply()
    wait_until(lambda: _poll_log(stack)[-1:] == [f"ok {version}"], 30, f"the poller on {version}")
    return _poll_log(stack)[mark:]


def test_start_first_replacement_fails_no_request(stack: StackFixture) -> None:
    stack.write(_watched_web("v1", "start-first"))
    stack.apply()
    wait_until(lambda: "ok v1" in _poll_log(stack), 15, "the poller's first answer")

    stack.write(_watched_web("v2", "start-first"))
    assert f"+/- container {stack.name}-web" in stack.plan().out  # the plan says: start first
    assert "| +/- replace | `containers.web` |" in stack.plan("--format", "markdown").out
    lines: list[str] = []
    for version in ("v2", "v3", "v4"):
        lines += _replace_watched(stack, version, "start-first")
    versions, failures, retried = _tally(lines)
    assert failures == [], f"{len(failures)} failed requests during start-first replacements: {failures[:5]}"
    assert len(retried) <= 2 * 3, f"{len(retried)} first attempts failed in 3 cut-overs: {retried[:8]}"
    assert set(versions) >= {"v2", "v3", "v4"}, versions
    assert sum(versions.values()) > 100, versions  # it really kept asking through the replacements
    assert temporaries(stack) == []
    assert stack.plan().code == 0

    # control: the same poller, retry included, sees the outage of a stop-first replacement
    _, failures, _ = _tally(_replace_watched(stack, "v5", "stop-first"))
    assert failures, "the poller saw no gap during a stop-first replacement: it proves nothing"
