"""The host settings (Compose's privileged, devices, network_mode, init, shm_size, ulimits, sysctls,
logging, security_opt, group_add, ipc, pid, dns, dns_search, platform, mac_address) on a real
engine: what the container gets, the empty plan after apply, the risks a policy refuses, a change
as a replacement, and each read back from the live container as `hostform adopt` reads it.

One apply covers them all (three containers and a job), to keep the suite short. `privileged`
is the exception: an engine that itself runs without every capability (this project's CI
machines) cannot start a privileged container, so its test creates one from hostform's create
body, and checks what the engine holds, the plan's risk and the policy that refuses it."""

from __future__ import annotations

from typing import Any

from hostform.declare.canonical import canonical_json, service_spec
from hostform.declare.load import load
from hostform.runtime.container_config import create_body, naming
from hostform.runtime.live_spec import joined_ids, live_spec
from tests.integration.conftest import BUSYBOX, StackFixture
from tests.integration.test_registry_pull import _push
from tests.integration.test_registry_pull import registry_repo as registry_repo  # noqa: F401 (fixture)

STACK = f"""
[networks.front]
labels = {{ "org.example.net" = "front" }}

[volumes.data]
labels = {{ "org.example.vol" = "data" }}

[containers.app]
image = "{BUSYBOX}"
command = ["sleep", "600"]
networks = ["front"]
volumes = ["data:/data"]
devices = ["/dev/null:/dev/xnull:rw"]
init = true
shm_size = "128m"
ulimits = {{ nofile = {{ soft = 1024, hard = 2048 }}, nproc = 512 }}
sysctls = {{ "net.core.somaxconn" = 1000, "net.ipv4.ip_unprivileged_port_start" = 80 }}
logging = {{ driver = "json-file", options = {{ max-size = "1m", max-file = "3" }} }}
security_opt = ["no-new-privileges:true"]
group_add = ["2345", 1234]
ipc = "shareable"
dns = ["10.0.0.53"]
dns_search = ["example.test"]
platform = "linux/amd64"
mac_address = "02:42:ac:11:00:99"

[containers.side]
image = "{BUSYBOX}"
command = ["sleep", "600"]
network_mode = "service:app"
ipc = "service:app"
pid = "service:app"
depends_on = {{ app = "started" }}

[containers.hostnet]
image = "{BUSYBOX}"
command = ["sleep", "600"]
network_mode = "host"

[jobs.once]
image = "{BUSYBOX}"
command = ["true"]
stop_grace_period = "3s"
init = true
network_mode = "none"
"""


def _exec(stack: StackFixture, container: str, *cmd: str) -> str:
    api: Any = stack.api
    run = api.exec_create(container, list(cmd))
    out: bytes = api.exec_start(run["Id"])
    assert api.exec_inspect(run["Id"])["ExitCode"] == 0, out
    return out.decode().strip()


def test_host_settings_apply_read_back_and_plan_nothing(stack: StackFixture) -> None:
    stack.write(STACK)
    refused = stack.plan("--deny", "privileged,host-devices,host-namespaces")
    assert refused.code == 1, refused.both
    assert "host-devices: devices /dev/null:/dev/xnull:rw" in refused.err
    assert "host-namespaces: network_mode = 'host'" in refused.err

    shown = stack.plan()
    assert "ulimits.nofile" in shown.out and "sysctls.net.core.somaxconn" in shown.out, shown.out
    stack.apply()
    again = stack.plan()
    assert again.code == 0, again.both  # no perpetual diff: the engine's defaults are not changes
    drift = stack.run("drift", str(stack.file))
    assert drift.code == 0, drift.both

    app = stack.inspect(f"{stack.name}-app")
    host = app["HostConfig"]
    assert host["Init"] is True
    assert host["Devices"] == [{"PathOnHost": "/dev/null", "PathInContainer": "/dev/xnull", "CgroupPermissions": "rw"}]
    assert host["ShmSize"] == 128 * 1024 * 1024
    assert sorted((u["Name"], u["Soft"], u["Hard"]) for u in host["Ulimits"]) == [
        ("nofile", 1024, 2048),
        ("nproc", 512, 512),
    ]
    assert host["Sysctls"] == {"net.core.somaxconn": "1000", "net.ipv4.ip_unprivileged_port_start": "80"}
    assert host["LogConfig"] == {"Type": "json-file", "Config": {"max-size": "1m", "max-file": "3"}}
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert sorted(host["GroupAdd"]) == ["1234", "2345"]
    assert host["IpcMode"] == "shareable" and host["Dns"] == ["10.0.0.53"] and host["DnsSearch"] == ["example.test"]
    assert app["NetworkSettings"]["Networks"][f"{stack.name}_front"]["MacAddress"] == "02:42:ac:11:00:99"
    name = f"{stack.name}-app"
    assert _exec(stack, name, "cat", "/proc/sys/net/core/somaxconn") == "1000"
    limits = _exec(stack, name, "sh", "-c", "grep 'Max open files' /proc/1/limits").split()
    assert limits[3:5] == ["1024", "2048"], limits
    assert _exec(stack, name, "sh", "-c", "test -c /dev/xnull && echo ok") == "ok"
    assert _exec(stack, name, "sh", "-c", "df -k /dev/shm | tail -1").split()[1] == str(128 * 1024)

    side = stack.inspect(f"{stack.name}-side")["HostConfig"]
    want = f"container:{app['Id']}"  # the engine keeps the ID of the container named
    assert (side["NetworkMode"], side["IpcMode"], side["PidMode"]) == (want, want, want)
    assert stack.inspect(f"{stack.name}-hostnet")["HostConfig"]["NetworkMode"] == "host"
    once = stack.inspect(f"{stack.name}-once")
    assert once["Config"]["StopTimeout"] == 3 and once["HostConfig"]["NetworkMode"] == "none"
    assert once["State"]["ExitCode"] == 0

    api: Any = stack.api
    assert api.inspect_network(f"{stack.name}_front")["Labels"]["org.example.net"] == "front"
    assert api.inspect_volume(f"{stack.name}_data")["Labels"]["org.example.vol"] == "data"

    # read back from the live containers as `hostform adopt` reads a container it did not make
    loaded = load(stack.file, environ={})
    key = b"k" * 16
    for service in ("app", "side", "hostnet", "once"):
        info = stack.inspect(f"{stack.name}-{service}")
        image = api.inspect_image(info["Image"])["Config"]
        spec = loaded.stack.services()[service]
        joined = {i: stack.inspect(i)["Name"].lstrip("/") for i in joined_ids(info)}
        live = live_spec(info, image, spec, service, naming(loaded), loaded.stack.all_networks(), key, [], joined)
        assert live == service_spec(loaded, service, key), service

    stack.write(STACK.replace("nofile = { soft = 1024, hard = 2048 }", "nofile = { soft = 2048, hard = 2048 }"))
    changed = stack.plan()
    assert changed.code == 2 and "ulimits" in changed.out and "replaced" in changed.out, changed.out
    # side lives in app's namespaces: made anew with it, after it
    assert f"-/+ container {stack.name}-side" in changed.out and "joins the namespace of 'app'" in changed.out
    stack.apply()
    side = stack.inspect(f"{stack.name}-side")
    assert side["HostConfig"]["NetworkMode"] == f"container:{stack.inspect(f'{stack.name}-app')['Id']}"
    assert side["State"]["Running"] and stack.plan().code == 0


def test_privileged_reaches_the_engine_and_a_policy_refuses_it(stack: StackFixture) -> None:
    stack.write(f'[containers.root]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "600"]\nprivileged = true\n')
    refused = stack.plan("--deny", "privileged")
    assert refused.code == 1 and "containers.root" in refused.err, refused.both
    assert "privileged: privileged = true (denied)" in refused.err
    assert "! risk privileged: privileged = true" in stack.plan().out
    loaded = load(stack.file, environ={})
    canonical = service_spec(loaded, "root", b"k" * 16)
    assert canonical["privileged"] is True and "init" not in canonical  # defaults stay out of the spec
    body = create_body(naming(loaded), "root", "container", loaded.stack.containers["root"], 1, canonical)
    api: Any = stack.api
    api.create_network(f"{stack.name}_default", labels={"io.hostform.stack": stack.name})
    made = api.create_container_from_config(body, name=f"{stack.name}-root")
    info = api.inspect_container(made["Id"])
    assert info["HostConfig"]["Privileged"] is True
    assert info["Config"]["Labels"]["io.hostform.spec"] == canonical_json(canonical)
    image = api.inspect_image(info["Image"])["Config"]
    spec = loaded.stack.containers["root"]
    live = live_spec(info, image, spec, "root", naming(loaded), loaded.stack.all_networks(), b"k" * 16)
    assert live == canonical


def test_adopt_reads_the_host_settings_back(stack: StackFixture) -> None:
    """Containers started by hand with host settings are adopted without a difference in them:
    the same containers afterwards, and the plan after the adoption touches nothing of theirs."""
    api: Any = stack.api
    old, hostnet = f"{stack.name}-by-hand", f"{stack.name}-hostnet-by-hand"
    host = api.create_host_config(
        init=True,
        shm_size="96m",
        ulimits=[{"Name": "nofile", "Soft": 1024, "Hard": 2048}],
        sysctls={"net.core.somaxconn": "1000"},
        log_config={"Type": "json-file", "Config": {"max-size": "2m"}},
        devices=["/dev/null:/dev/xnull:rw"],
        group_add=["2345"],
        dns=["10.0.0.53"],
        dns_search=["example.test"],
        security_opt=["no-new-privileges:true"],
        ipc_mode="shareable",
    )
    made = [api.create_container(BUSYBOX, ["sleep", "600"], name=old, host_config=host)["Id"]]
    net_host = api.create_host_config(network_mode="host", pid_mode="host")
    made.append(api.create_container(BUSYBOX, ["sleep", "600"], name=hostnet, host_config=net_host)["Id"])
    try:
        for ident in made:
            api.start(ident)
        stack.write(
            f"""
[containers.app]
image = "{BUSYBOX}"
command = ["sleep", "600"]
adopt = "{old}"
init = true
shm_size = "96m"
ulimits = {{ nofile = {{ soft = 1024, hard = 2048 }} }}
sysctls = {{ "net.core.somaxconn" = 1000 }}
logging = {{ driver = "json-file", options = {{ max-size = "2m" }} }}
devices = ["/dev/null:/dev/xnull:rw"]
group_add = [2345]
dns = ["10.0.0.53"]
dns_search = ["example.test"]
security_opt = ["no-new-privileges:true"]
ipc = "shareable"

[containers.hostnet]
image = "{BUSYBOX}"
command = ["sleep", "600"]
adopt = "{hostnet}"
network_mode = "host"
pid = "host"
"""
        )
        shown = stack.run("adopt", str(stack.file), "--dry-run", check=True)
        adoption = shown.out.split("After the adoption")[0]
        lines = [line for line in adoption.splitlines() if line.strip().startswith("~ ")]
        assert [line.split(":")[0].strip() for line in lines] == ["~ networks"], shown.out  # bridge -> the stack's
        stack.run("adopt", str(stack.file), "--auto-approve", check=True)
        stack.apply()  # moves app from Docker's bridge to the stack's network, in place
        assert [api.inspect_container(f"{stack.name}-{n}")["Id"] for n in ("app", "hostnet")] == made
        assert stack.plan().code == 0
    finally:
        for ident in made:
            api.remove_container(ident, force=True)


def test_gpus_reach_the_engine_as_a_device_request(stack: StackFixture) -> None:
    """No GPU here: the engine is asked for one (and says it has no driver for it), by name."""
    stack.write(f'[containers.ml]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "600"]\ngpus = "all"\n')
    assert "! risk host-devices: gpus all" in stack.plan().out
    failed = stack.apply(check=False)
    assert failed.code == 1 and "containers.ml" in failed.err, failed.both
    assert "could not select device driver" in failed.err and "gpu" in failed.err, failed.err


def test_platform_is_pulled_for(stack: StackFixture, registry_repo: str) -> None:
    """The image is pulled for the declared platform: the engine's own when it is that one, and a
    clear refusal naming the platform when the registry holds none for it."""
    api: Any = stack.api
    ref = f"{registry_repo}:v1"
    _push(api, BUSYBOX, registry_repo, "v1")
    api.remove_image(ref)
    body = f'[containers.app]\nimage = "{ref}"\ncommand = ["sleep", "600"]\nplatform = "linux/amd64"\n'
    stack.write(body)
    stack.apply()
    assert stack.plan().code == 0
    stack.write(body.replace("linux/amd64", "linux/s390x") + 'pull = "always"\n')
    refused = stack.apply(check=False)
    assert refused.code == 1 and "linux/s390x" in refused.err, refused.both
    assert stack.inspect(f"{stack.name}-app")["State"]["Running"], "a failed pull touched the running container"
