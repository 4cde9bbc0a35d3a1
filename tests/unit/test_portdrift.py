"""Port drift on facts given as records (tests/integration/test_hostnet.py reads them for real)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hostform.declare.frozen import changed
from hostform.plans.drift import Drift, DriftReport
from hostform.plans.drift_view import verdict
from hostform.plans.model import Action
from hostform.plans.portdrift import port_findings
from hostform.runtime.enginenet import EngineNet, NetworkFacts
from hostform.runtime.hostnet import Listener
from hostform.runtime.records import Observed, ObservedContainer
from tests.unit.test_hostcheck import HOST, NGINX, PROXY, WEB, published, stack

WEB_ID = "a" * 64
APPLIED = {"ports": [{"container_port": 80, "host_port": 8080, "host_ip": "127.0.0.1", "protocol": "tcp"}]}
RUNNING = ObservedContainer(WEB_ID, "blog-web", "web", "container", 1, "", "running", None, None, APPLIED, None)


def observed(*containers: ObservedContainer) -> Observed:
    return Observed("blog", containers, (), (), (), {}, None)


def facts(*listeners: Listener, publishing: tuple = ()) -> NetworkFacts:  # type: ignore[type-arg]
    return NetworkFacts(replace(HOST, listeners=listeners), EngineNet((), publishing))


def test_a_port_served_by_the_engine_for_its_container_is_no_drift(tmp_path: Path) -> None:
    held = facts(Listener("tcp", "127.0.0.1", 8080, 1, (PROXY,)), publishing=(published(8080, WEB_ID, "blog", "web"),))
    assert port_findings(stack(tmp_path, WEB), observed(RUNNING), held) == []


def test_a_port_taken_by_a_process_while_the_container_is_stopped(tmp_path: Path) -> None:
    stopped = changed(RUNNING, state="exited")
    (found,) = port_findings(
        stack(tmp_path, WEB), observed(stopped), facts(Listener("tcp", "0.0.0.0", 8080, 1, (NGINX,)))
    )
    assert found.drift is Drift.PORT and found.remedy is Action.NOOP and not found.fixable
    assert found.detail == "port 127.0.0.1:8080/tcp, published for containers.web, is served by pid 812 (nginx)"
    assert (found.fields[0].path, found.fields[0].live) == ("ports[127.0.0.1:8080/tcp]", "pid 812 (nginx)")
    report = DriftReport("blog", None, (found,))  # type: ignore[arg-type]
    ((words, _),) = verdict(report)
    assert "ports taken by something else must be dealt with by hand" in words and "--fix" not in words


def test_a_port_published_for_another_stacks_container(tmp_path: Path) -> None:
    other = facts(publishing=(published(8080, "b" * 64, "shop", "front"),))
    (found,) = port_findings(stack(tmp_path, WEB), observed(changed(RUNNING, state="exited")), other)
    assert "is served by container shop-front (stack 'shop', containers.front)" in found.detail


def test_a_port_served_by_no_one(tmp_path: Path) -> None:
    (found,) = port_findings(stack(tmp_path, WEB), observed(RUNNING), facts())
    assert found.remedy is Action.RESTART and found.fixable
    assert found.detail == (
        "port 127.0.0.1:8080/tcp, published for containers.web, is not served: "
        "nothing listens on it and the engine publishes it for no container"
    )
    # a stopped container serving nothing is the state finding's business, not a port finding
    assert port_findings(stack(tmp_path, WEB), observed(changed(RUNNING, state="exited")), facts()) == []
