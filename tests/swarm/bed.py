"""A three-node Docker Swarm on one machine, for tests and for trying a stack on a cluster.

    python3 -m tests.swarm.bed up|down|status|kill NODE|start NODE
    (scripts/swarm-up and scripts/swarm-down call it)

Layout (all names start with `hfsw`, so nothing else on the machine is touched):

    root netns  hfswroot 10.81.0.1/24 ──veth── hfswp0 ┐
    netns hfsw-hub:  bridge hfswbr0 ◄──────────────────┤
    netns hfsw-s1:   eth0 10.81.0.11 ──veth── hfswp1 ──┤   dockerd s1 (manager)
    netns hfsw-s2:   eth0 10.81.0.12 ──veth── hfswp2 ──┤   dockerd s2 (worker)
    netns hfsw-s3:   eth0 10.81.0.13 ──veth── hfswp3 ──┘   dockerd s3 (worker)

- The bridge lives in a private namespace: in the root one, the default engine's FORWARD DROP
  policy (through br_netfilter) would filter node-to-node traffic.
- Each dockerd runs in its node's network namespace through `nsenter --net` (`ip netns exec`
  remounts /sys, which breaks cgroups) and in its own UTS namespace, so node.hostname is s1/s2/s3.
- No default route inside the nodes: nothing leaves the bed.
- A registry (Debian's docker-registry) on 10.81.0.1:5000 serves every node (an insecure
  registry on each); the test images are pushed there, so services run them by digest.
- `--dispatcher-heartbeat 1s` at swarm init: a lost node is seen in a few seconds.

Processes are stopped by the pids this module recorded (dockerd's pid file, the registry's), and
the processes descending from them; nothing is looked up by name.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NODES = ("s1", "s2", "s3")
HUB = "hfsw-hub"
BRIDGE = "hfswbr0"
ROOT_LINK = "hfswroot"
PREFIX = "10.81.0"  # the bed's subnet (a /24); the swarm's overlay pool is ADDR_POOL
ADDR_POOL = "10.82.0.0/16"
REGISTRY = f"{PREFIX}.1:5000"
HEARTBEAT_NS = 1_000_000_000
TEST_IMAGES = ("hostform-test/busybox:1", "hostform-test/busybox:2")


@dataclass(frozen=True)
class Bed:
    root: Path = Path(os.environ.get("HOSTFORM_SWARM_DIR", "/tmp/hfsw"))

    def node_dir(self, node: str) -> Path:
        return self.root / node

    def socket(self, node: str) -> str:
        return f"unix://{self.node_dir(node)}/docker.sock"

    @property
    def manager(self) -> str:
        return self.socket(NODES[0])

    def env(self) -> dict[str, str]:
        """What a shell or a test needs: the manager's address and the registry."""
        out = {"HOSTFORM_SWARM_MANAGER": self.manager, "HOSTFORM_SWARM_REGISTRY": REGISTRY}
        out.update({f"HOSTFORM_SWARM_{n.upper()}": self.socket(n) for n in NODES})
        return out


def netns_name(node: str) -> str:
    return f"hfsw-{node}"


def node_address(node: str) -> str:
    return f"{PREFIX}.{11 + NODES.index(node)}"


def _log(t0: float, what: str) -> None:
    print(f"swarm-bed: {what} (+{time.monotonic() - t0:.1f}s)", file=sys.stderr)


# ---------------------------------------------------------------- network (pyroute2)


def network_up() -> None:
    from pyroute2 import IPRoute, NetNS, netns

    present = set(netns.listnetns())
    for ns in (HUB, *(netns_name(n) for n in NODES)):
        if ns not in present:
            netns.create(ns)
    with NetNS(HUB) as hub:
        if not hub.link_lookup(ifname=BRIDGE):
            hub.link("add", ifname=BRIDGE, kind="bridge")
        _up(hub, BRIDGE, "lo")
    with IPRoute() as ip:
        if not ip.link_lookup(ifname=ROOT_LINK):
            ip.link("add", ifname=ROOT_LINK, kind="veth", peer={"ifname": "hfswp0", "net_ns_fd": HUB})
            index = ip.link_lookup(ifname=ROOT_LINK)[0]
            ip.addr("add", index=index, address=f"{PREFIX}.1", prefixlen=24)
        _up(ip, ROOT_LINK)
    with NetNS(HUB) as hub:
        _enslave(hub, "hfswp0")
    for i, node in enumerate(NODES, start=1):
        _node_link(node, f"hfswp{i}")


def _node_link(node: str, hub_end: str) -> None:
    from pyroute2 import NetNS

    with NetNS(netns_name(node)) as ns:
        fresh = not ns.link_lookup(ifname="eth0")
    if fresh:
        with NetNS(HUB) as hub:
            hub.link("add", ifname=hub_end, kind="veth", peer={"ifname": "eth0", "net_ns_fd": netns_name(node)})
        with NetNS(netns_name(node)) as ns:
            ns.addr("add", index=ns.link_lookup(ifname="eth0")[0], address=node_address(node), prefixlen=24)
    with NetNS(netns_name(node)) as ns:
        _up(ns, "eth0", "lo")
    with NetNS(HUB) as hub:
        _enslave(hub, hub_end)


def _up(ip: Any, *links: str) -> None:
    for name in links:
        ip.link("set", index=ip.link_lookup(ifname=name)[0], state="up")


def _enslave(hub: Any, link: str) -> None:
    bridge = hub.link_lookup(ifname=BRIDGE)[0]
    hub.link("set", index=hub.link_lookup(ifname=link)[0], master=bridge, state="up")


def network_down() -> None:
    from pyroute2 import IPRoute, netns

    with IPRoute() as ip:
        for index in ip.link_lookup(ifname=ROOT_LINK):
            ip.link("del", index=index)
    present = set(netns.listnetns())
    for ns in (*(netns_name(n) for n in NODES), HUB):
        if ns in present:
            netns.remove(ns)


# ---------------------------------------------------------------- registry


def _registry_answers() -> bool:
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=2):
            return True
    except OSError:
        return False


def registry_up(bed: Bed) -> None:
    if _registry_answers():
        return
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("swarm-bed: docker-registry is not installed (apt-get install docker-registry)")
    config = bed.root / "registry.yml"
    config.write_text(
        "version: 0.1\nlog: {level: warn, accesslog: {disabled: true}}\n"
        f"storage: {{filesystem: {{rootdirectory: {bed.root}/registry-data}}, delete: {{enabled: true}}}}\n"
        f'http: {{addr: "{REGISTRY}"}}\n',
        encoding="utf-8",
    )
    with open(bed.root / "registry.log", "ab") as log:
        proc = subprocess.Popen(
            [binary, "serve", str(config)], stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    (bed.root / "registry.pid").write_text(str(proc.pid))
    _until(_registry_answers, 15, f"the registry on {REGISTRY} (see {bed.root}/registry.log)")


# ---------------------------------------------------------------- engines


def _client(address: str, timeout: int = 30) -> Any:
    import docker

    return docker.APIClient(base_url=address, version="1.41", timeout=timeout)


def engine_answers(bed: Bed, node: str) -> bool:
    if not os.path.exists(bed.socket(node).removeprefix("unix://")):
        return False
    try:
        _client(bed.socket(node), timeout=3).ping()
        return True
    except Exception:  # noqa: BLE001 - any failure: not answering
        return False


def start_engine(bed: Bed, node: str) -> None:
    if engine_answers(bed, node):
        return
    d = bed.node_dir(node)
    d.mkdir(parents=True, exist_ok=True)
    _kill_tree(_read_pid(d / "dockerd.pid"))  # a dockerd of ours that no longer answers
    argv = [
        "nsenter",
        f"--net=/run/netns/{netns_name(node)}",
        "unshare",
        "--uts",
        "sh",
        "-c",
        'hostname "$0"; exec "$@"',
        node,
        "dockerd",
        "-H",
        bed.socket(node),
        "--data-root",
        f"{d}/data",
        "--exec-root",
        f"{d}/exec",
        "--pidfile",
        f"{d}/dockerd.pid",
        "--insecure-registry",
        REGISTRY,
    ]
    with open(d / "dockerd.log", "ab") as log:
        # nsenter, unshare and sh exec in turn: the pid is dockerd's, which writes it to its pid file
        subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)


def wait_engine(bed: Bed, node: str, seconds: float = 60) -> None:
    _until(lambda: engine_answers(bed, node), seconds, f"dockerd {node} (see {bed.node_dir(node)}/dockerd.log)")


def kill_engine(bed: Bed, node: str) -> None:
    """kill -9 one node's dockerd only (its containers keep running, as when a host's daemon dies)."""
    pid = _read_pid(bed.node_dir(node) / "dockerd.pid")
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        _until(lambda: not _alive(pid), 10, f"dockerd {node} to die")


def images_up(bed: Bed) -> None:
    """The test images from the default engine, pushed to the bed's registry through s1."""
    import docker

    local = docker.APIClient(version="1.41", timeout=120, **docker.utils.kwargs_from_env())
    s1 = _client(bed.manager, timeout=120)
    for image in TEST_IMAGES:
        remote = f"{REGISTRY}/{image}"
        if _in_registry(image):
            continue
        s1.load_image(local.get_image(image))
        s1.tag(image, remote)
        for line in s1.push(remote, stream=True, decode=True):
            if "error" in line:
                raise SystemExit(f"swarm-bed: push {remote}: {line['error']}")


def _in_registry(image: str) -> bool:
    repo, _, tag = image.rpartition(":")
    request = urllib.request.Request(
        f"http://{REGISTRY}/v2/{repo}/manifests/{tag}",
        method="HEAD",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5):
            return True
    except OSError:
        return False


def swarm_up(bed: Bed) -> None:
    s1 = _client(bed.manager)
    addr = node_address(NODES[0])
    if s1.info()["Swarm"]["LocalNodeState"] != "active":
        spec = s1.create_swarm_spec(dispatcher_heartbeat_period=HEARTBEAT_NS)
        s1.init_swarm(
            advertise_addr=addr,
            listen_addr=f"{addr}:2377",
            swarm_spec=spec,
            default_addr_pool=[ADDR_POOL],
            subnet_size=24,
        )
    token = s1.inspect_swarm()["JoinTokens"]["Worker"]
    for node in NODES[1:]:
        api = _client(bed.socket(node))
        if api.info()["Swarm"]["LocalNodeState"] != "active":
            api.join_swarm([f"{addr}:2377"], token, listen_addr=f"{node_address(node)}:2377")
    _until(lambda: _ready_nodes(s1) == len(NODES), 30, "every node Ready")
    for n in s1.nodes():
        name = n["Description"]["Hostname"]
        if n["Spec"].get("Labels", {}).get("name") != name:
            spec = {**n["Spec"], "Labels": {**n["Spec"].get("Labels", {}), "name": name}}
            s1.update_node(n["ID"], n["Version"]["Index"], spec)


def _ready_nodes(api: Any) -> int:
    return sum(n["Status"]["State"] == "ready" for n in api.nodes())


# ---------------------------------------------------------------- processes


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid: int) -> list[int]:
    tree, out, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _kill_tree(pid: int | None) -> None:
    if not pid or not _alive(pid):
        return
    for p in [pid, *_descendants(pid)]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


def _container_pids(d: Path) -> Iterator[int]:
    """Processes of this engine's containers, through their cgroups (they outlive a killed dockerd,
    reparented away from it)."""
    containers = d / "data" / "containers"
    ids = os.listdir(containers) if containers.is_dir() else []
    for ident in ids:
        for procs in Path("/sys/fs/cgroup").glob(f"*/docker/{ident}/cgroup.procs"):
            with contextlib.suppress(OSError, ValueError):
                yield from (int(p) for p in procs.read_text().split())


def _shim_pids(d: Path) -> Iterator[int]:
    """containerd and its shims started for this engine: they name our exec-root in their arguments."""
    marker = str(d).encode() + b"/"
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                args = Path(f"/proc/{entry}/cmdline").read_bytes()
                if args.startswith(b"containerd") and marker in args:
                    yield int(entry)


def engine_down(bed: Bed, node: str) -> None:
    d = bed.node_dir(node)
    if not d.exists():
        return
    _kill_tree(_read_pid(d / "dockerd.pid"))
    for pid in [*_container_pids(d), *_shim_pids(d)]:
        _kill_tree(pid)
    time.sleep(0.3)
    for cg in Path("/sys/fs/cgroup").glob("*/docker/*"):
        if (d / "data" / "containers" / cg.name).exists():
            with contextlib.suppress(OSError):
                cg.rmdir()
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for m in sorted((m for m in mounts if m.startswith(f"{d}/")), reverse=True):
        subprocess.run(["umount", "-l", m], check=False, capture_output=True)
    shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- whole bed


def up(bed: Bed) -> None:
    t0 = time.monotonic()
    bed.root.mkdir(parents=True, exist_ok=True)
    network_up()
    _log(t0, "network")
    registry_up(bed)
    _log(t0, f"registry on {REGISTRY}")
    for node in NODES:
        start_engine(bed, node)
    for node in NODES:
        wait_engine(bed, node)
    _log(t0, "engines")
    images_up(bed)
    _log(t0, "images")
    swarm_up(bed)
    (bed.root / "bed.env").write_text("".join(f"export {k}={v}\n" for k, v in bed.env().items()))
    _log(t0, f"swarm of {len(NODES)} nodes ready; source {bed.root}/bed.env")


def down(bed: Bed) -> None:
    t0 = time.monotonic()
    for node in NODES:
        engine_down(bed, node)
    _log(t0, "engines")
    _kill_tree(_read_pid(bed.root / "registry.pid"))
    network_down()
    shutil.rmtree(bed.root, ignore_errors=True)
    _log(t0, "registry and network; done")


def _until(check: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"swarm-bed: timed out waiting for {what}")
        time.sleep(0.2)


def main(argv: list[str]) -> int:
    bed = Bed()
    usage = "usage: python3 -m tests.swarm.bed up|down|env|kill NODE|start NODE"
    if not argv:
        print(usage, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "up":
        up(bed)
    elif command == "down":
        down(bed)
    elif command == "env":
        print("".join(f"export {k}={v}\n" for k, v in bed.env().items()), end="")
    elif command in ("kill", "start") and len(rest) == 1 and rest[0] in NODES:
        if command == "kill":
            kill_engine(bed, rest[0])
        else:
            start_engine(bed, rest[0])
            wait_engine(bed, rest[0])
    else:
        print(usage, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
