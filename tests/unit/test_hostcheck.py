"""The plan-time host network checks on facts given as records (the same checks run on facts
read inside network namespaces in tests/integration/test_hostnet.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hostform.declare.load import LoadedStack, load
from hostform.plans.hostcheck import check, needs_facts
from hostform.plans.model import Action, Change, Plan, Reason, ReasonKind
from hostform.runtime.enginenet import EngineNet, EngineNetwork, NetworkFacts, PublishedPort, free_pool_subnets
from hostform.runtime.hostnet import HostNet, Interface, Listener, Process, Route, is_local_engine

NGINX = Process(812, "nginx")
PROXY = Process(900, "docker-proxy")
OLD_WEB = "c" * 64

HOST = HostNet(
    interfaces=(
        Interface(1, "lo", "", True, "UNKNOWN", ("127.0.0.1/8",)),
        Interface(2, "eth0", "", True, "UP", ("192.0.2.2/24",)),
        Interface(3, "eth1", "", False, "DOWN", ()),
        Interface(4, "br-0123456789ab", "bridge", True, "UP", ("172.18.0.1/16",)),
    ),
    routes=(
        Route("0.0.0.0/0", "eth0", "192.0.2.1"),
        Route("192.0.2.0/24", "eth0", ""),
        Route("10.20.0.0/14", "eth0", "192.0.2.254"),
        Route("172.18.0.0/16", "br-0123456789ab", ""),
    ),
    listeners=(),
    local=("127.0.0.0/8", "192.0.2.2/32", "172.18.0.1/32"),
)
OTHER_NET = EngineNetwork("0123456789abcdef", "other_default", "bridge", ("172.18.0.0/16",), "br-0123456789ab", "other")


def facts(
    *listeners: Listener, published: tuple[PublishedPort, ...] = (), pools: tuple[tuple[str, int], ...] = ()
) -> NetworkFacts:
    engine = EngineNet((OTHER_NET,), published, pools) if pools else EngineNet((OTHER_NET,), published)
    return NetworkFacts(HostNet(HOST.interfaces, HOST.routes, listeners, HOST.local), engine)


def published(port: int, container_id: str, stack: str | None, resource: str, ip: str = "127.0.0.1") -> PublishedPort:
    name = f"{stack}-{resource}" if stack else resource
    return PublishedPort("tcp", ip, port, container_id, name, stack, resource if stack else "", 1, "container")


def stack(tmp_path: Path, body: str) -> LoadedStack:
    path = tmp_path / "hostform.toml"
    path.write_text('[stack]\nname = "blog"\n\n' + body)
    return load(str(path))


def plan(*changes: Change) -> Plan:
    return Plan("blog", changes, "fp")


def web(action: Action = Action.CREATE, current: str | None = None) -> Change:
    return Change("containers.web", "container", "web", "blog-web", action, (Reason(ReasonKind.NEW),), 1, current)


def network(name: str, action: Action = Action.CREATE) -> Change:
    return Change(f"networks.{name}", "network", name, f"blog_{name}", action, (Reason(ReasonKind.NEW),))


WEB = """
[containers.web]
image = "busybox"
ports = ["127.0.0.1:8080:80", "9090:90/udp"]
"""


def test_a_port_bound_by_a_process_names_its_pid_and_command(tmp_path: Path) -> None:
    loaded = stack(tmp_path, WEB)
    found = check(loaded, plan(web()), facts(Listener("tcp", "127.0.0.1", 8080, 1, (NGINX,))))
    assert found.conflicts == (
        "port 127.0.0.1:8080/tcp is already bound by pid 812 (nginx); containers.web publishes 127.0.0.1:8080:80/tcp",
    )


@pytest.mark.parametrize(
    ("listener", "blocks"),
    [
        (Listener("tcp", "0.0.0.0", 8080, 1, (NGINX,)), True),  # a wildcard bind takes every address
        (Listener("tcp", "::", 8080, 1, (NGINX,)), True),  # dual stack
        (Listener("tcp", "192.0.2.2", 8080, 1, (NGINX,)), False),  # another address
        (Listener("udp", "127.0.0.1", 8080, 1, (NGINX,)), False),  # another protocol
        (Listener("udp", "192.0.2.2", 9090, 1, (NGINX,)), True),  # the wildcard publish meets any address
        (Listener("tcp", "::1", 8080, 1, (NGINX,)), False),
    ],
)
def test_wildcard_binds_on_either_side(tmp_path: Path, listener: Listener, blocks: bool) -> None:
    found = check(stack(tmp_path, WEB), plan(web()), facts(listener))
    assert bool(found.conflicts) is blocks, found


def test_the_engine_proxy_of_the_container_being_replaced_is_not_a_conflict(tmp_path: Path) -> None:
    loaded = stack(tmp_path, WEB)
    held = facts(Listener("tcp", "127.0.0.1", 8080, 1, (PROXY,)), published=(published(8080, OLD_WEB, "blog", "web"),))
    assert check(loaded, plan(web(Action.REPLACE, OLD_WEB)), held).conflicts == ()
    # the same port held by the proxy of another stack's container names that stack
    other = facts(
        Listener("tcp", "127.0.0.1", 8080, 1, (PROXY,)), published=(published(8080, "d" * 64, "shop", "front"),)
    )
    assert check(loaded, plan(web(Action.REPLACE, OLD_WEB)), other).conflicts == (
        "port 127.0.0.1:8080/tcp is held by container shop-front (stack 'shop', containers.front); "
        "containers.web publishes 127.0.0.1:8080:80/tcp",
    )


def test_a_port_published_without_a_proxy_socket_is_still_found(tmp_path: Path) -> None:
    """With the engine's userland proxy off, only the engine's listing shows the port taken."""
    found = check(stack(tmp_path, WEB), plan(web()), facts(published=(published(8080, "e" * 64, None, "hand-made"),)))
    assert found.conflicts == (
        "port 127.0.0.1:8080/tcp is held by container hand-made (not managed by hostform); "
        "containers.web publishes 127.0.0.1:8080:80/tcp",
    )


def test_a_host_ip_the_host_lacks_lists_the_addresses(tmp_path: Path) -> None:
    loaded = stack(tmp_path, '[containers.web]\nimage = "busybox"\nports = ["10.1.2.3:8080:80", "127.0.0.2:8081:80"]\n')
    found = check(loaded, plan(web()), facts())
    # 127.0.0.2 is bindable: the local route 127.0.0.0/8 covers it, as the kernel decides
    assert found.conflicts == (
        "10.1.2.3 is not an address of this host (addresses: 127.0.0.1, 172.18.0.1, 192.0.2.2); "
        "containers.web publishes 10.1.2.3:8080:80/tcp",
    )


def test_only_what_the_plan_binds_or_creates_is_checked(tmp_path: Path) -> None:
    loaded = stack(tmp_path, WEB)
    busy = facts(Listener("tcp", "127.0.0.1", 8080, 1, (NGINX,)))
    for action in (Action.NOOP, Action.UPDATE, Action.DELETE):
        assert not needs_facts(loaded, plan(web(action, OLD_WEB)))
        assert check(loaded, plan(web(action, OLD_WEB)), busy).conflicts == ()
    assert needs_facts(loaded, plan(web(Action.START, OLD_WEB)))
    assert needs_facts(loaded, plan(network("default")))
    assert not needs_facts(loaded, plan(network("default", Action.NOOP)))


NETS = """
[networks.backend]
subnet = "10.20.0.0/16"

[networks.shared]
subnet = "172.18.5.0/24"

[networks.lan]
driver = "macvlan"
options = { parent = "eth1" }

[networks.vlan]
driver = "ipvlan"
options = { parent = "eth0.10" }

[networks.ghost]
driver = "macvlan"
options = { parent = "eth9" }
"""


def test_subnets_against_routes_engine_networks_and_parents(tmp_path: Path) -> None:
    loaded = stack(tmp_path, NETS)
    changes = [network(n) for n in ("backend", "shared", "lan", "vlan", "ghost")]
    found = check(loaded, plan(*changes), facts())
    assert found.warnings == (
        "networks.backend 10.20.0.0/16 overlaps the route 10.20.0.0/14 via eth0: "
        "containers on it could not reach that network",
    )
    assert found.conflicts == (
        "networks.shared 172.18.5.0/24 overlaps the engine network 'other_default' (172.18.0.0/16): "
        "the engine refuses overlapping subnets",
        "networks.lan: parent interface 'eth1' (macvlan) is down (state DOWN)",
        # eth0.10 is missing, but the engine makes a VLAN sub-interface of an existing eth0 itself
        "networks.ghost: parent interface 'eth9' (macvlan) does not exist "
        "(interfaces: lo, eth0, eth1, br-0123456789ab)",
    )
    strict = check(loaded, plan(network("backend")), facts(), strict=True)
    assert strict.warnings == () and "overlaps the route 10.20.0.0/14" in strict.conflicts[0]


def test_a_network_without_a_subnet_needs_a_free_one_in_the_default_pools(tmp_path: Path) -> None:
    loaded = stack(tmp_path, "[networks.a]\n[networks.b]\n")
    tiny = (("172.18.0.0/15", 16),)  # 172.18/16 is the other stack's, 172.19/16 is free: room for one
    found = check(loaded, plan(network("a"), network("b")), facts(pools=tiny))
    assert len(found.conflicts) == 1 and found.conflicts[0].startswith(
        "networks.b: the engine's default address pools (172.18.0.0/15 in /16s) have no subnet left"
    )
    # the engine skips a pool subnet that overlaps a host route (10.20.0.0/14 here)
    free = free_pool_subnets(EngineNet((), (), (("10.16.0.0/12", 14),)), HOST, [])
    assert [str(s) for s in free] == ["10.16.0.0/14", "10.24.0.0/14", "10.28.0.0/14"]


@pytest.mark.parametrize(
    ("address", "local"),
    [
        ("unix:///var/run/docker.sock", True),
        ("tcp://127.0.0.1:2375", True),
        ("tcp://[::1]:2375", True),
        ("tcp://localhost:2375", True),
        ("tcp://10.0.0.5:2376", False),
        ("ssh://deploy@web1", False),
    ],
)
def test_which_engines_run_on_this_machine(address: str, local: bool) -> None:
    assert is_local_engine(address) is local


def test_a_remote_engine_skips_the_checks_with_one_line(tmp_path: Path) -> None:
    from hostform.plans.hostcheck import with_host_checks
    from hostform.runtime.engine import Engine

    engine = Engine("tcp://192.0.2.77:2376")  # constructing does not connect; nothing here reads the host
    loaded = stack(tmp_path, WEB)
    assert with_host_checks(engine, loaded, plan(web())).warnings == (
        "host network checks skipped: the engine at tcp://192.0.2.77:2376 does not run on this machine",
    )
    nothing = plan(web(Action.NOOP, OLD_WEB))
    assert with_host_checks(engine, loaded, nothing) == nothing  # nothing to check: not even the line


def test_a_plan_reads_only_the_facts_its_checks_use(tmp_path: Path) -> None:
    """Each dump grows with the host (a veth, an IPv6 address and routes per container)."""
    from hostform.plans.hostcheck import wanted
    from hostform.runtime.hostnet import Wanted

    assert wanted(stack(tmp_path, WEB), plan(web())) == Wanted(links=False, versions=(4,), sockets=True)
    wildcard = stack(tmp_path, '[containers.web]\nimage = "busybox"\nports = ["8080:80"]\n')
    assert wanted(wildcard, plan(web())) == Wanted(links=False, versions=(), sockets=True)
    assert wanted(wildcard, plan(web(Action.NOOP, OLD_WEB))) is None
    nets = stack(tmp_path, NETS + '[networks.v6]\nsubnet = "fd00:1::/64"\n')
    assert wanted(nets, plan(network("lan"), network("v6"))) == Wanted(links=True, versions=(4, 6), sockets=False)
    assert wanted(nets, plan(network("backend"))) == Wanted(links=False, versions=(4,), sockets=False)
