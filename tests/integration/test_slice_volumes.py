"""Named volumes on a real engine: data survives a replacement; destroy keeps volumes unless asked."""

from __future__ import annotations

from tests.integration.conftest import BUSYBOX, BUSYBOX2, StackFixture

BODY = """
[volumes.data]

[containers.app]
image = "@IMAGE@"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
volumes = ["data:/data"]
env = { VERSION = "@VERSION@" }
"""


def body(image: str = BUSYBOX, version: str = "1") -> str:
    return BODY.replace("@IMAGE@", image).replace("@VERSION@", version)


def exec_in(stack: StackFixture, container: str, *cmd: str) -> str:
    api = stack.api
    ex = api.exec_create(container, list(cmd))  # type: ignore[attr-defined]
    out = api.exec_start(ex["Id"])  # type: ignore[attr-defined]
    code = api.exec_inspect(ex["Id"])["ExitCode"]  # type: ignore[attr-defined]
    assert code == 0, f"{cmd} exited {code}: {out!r}"
    return out.decode()


def volume_names(stack: StackFixture) -> list[str]:
    found = stack.api.volumes(filters={"label": f"io.hostform.stack={stack.name}"})  # type: ignore[attr-defined]
    return sorted(v["Name"] for v in found.get("Volumes") or [])


def test_volume_data_survives_replacement(stack: StackFixture) -> None:
    name = f"{stack.name}-app"
    stack.write(body())
    stack.apply()
    first = stack.inspect(name)["Id"]
    exec_in(stack, name, "sh", "-c", "echo kept-across-replacements > /data/proof")

    for image, version in ((BUSYBOX, "2"), (BUSYBOX2, "2")):  # a field change, then an image change
        stack.write(body(image, version))
        plan = stack.plan()
        assert plan.code == 2 and "-/+" in plan.out, plan.both
        stack.apply()
        assert stack.inspect(name)["Id"] != first
        assert exec_in(stack, name, "cat", "/data/proof").strip() == "kept-across-replacements"
        assert stack.plan().code == 0
    assert volume_names(stack) == [f"{stack.name}_data"]


def test_destroy_keeps_volumes_unless_asked(stack: StackFixture) -> None:
    name = f"{stack.name}-app"
    stack.write(body())
    stack.apply()
    exec_in(stack, name, "sh", "-c", "echo data > /data/proof")

    result = stack.run("destroy", str(stack.file), "--auto-approve")
    assert result.code == 0, result.both
    assert "--volumes" in result.out  # the kept volume is named, with how to delete it
    assert stack.containers() == []
    assert volume_names(stack) == [f"{stack.name}_data"]
    nets = stack.api.networks(filters={"label": f"io.hostform.stack={stack.name}"})  # type: ignore[attr-defined]
    assert nets == []

    # applying again finds the data where it was left
    stack.apply()
    assert exec_in(stack, name, "cat", "/data/proof").strip() == "data"

    result = stack.run("destroy", str(stack.file), "--auto-approve", "--volumes")
    assert result.code == 0, result.both
    assert stack.containers() == []
    assert volume_names(stack) == []


def test_undeclared_volume_is_kept_unless_pruned(stack: StackFixture) -> None:
    stack.write(body())
    stack.apply()
    stack.write(body().replace("[volumes.data]\n", "").replace('volumes = ["data:/data"]\n', ""))
    result = stack.plan()
    assert result.code == 2, result.both
    assert "no longer declared; kept" in " ".join(result.out.split()), result.out
    stack.apply()
    assert volume_names(stack) == [f"{stack.name}_data"]
    assert stack.plan().code == 0
    stack.apply("--prune-volumes")
    assert volume_names(stack) == []


def test_destroy_needs_only_the_stack_name(stack: StackFixture) -> None:
    stack.write(
        f"""
[containers.app]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
env = {{ TOKEN = "{{{{ secret('HF_DESTROY_TOKEN') }}}}" }}
"""
    )
    stack.env["HF_DESTROY_TOKEN"] = "t0ken-value"
    stack.apply()
    del stack.env["HF_DESTROY_TOKEN"]  # a secret not set where destroy runs
    result = stack.run("destroy", str(stack.file), "--auto-approve")
    assert result.code == 0, result.both
    assert "destroying by its name" not in result.err  # destroy reads no secret: the file loads as it is
    assert "t0ken-value" not in result.both
    assert stack.containers() == []


def test_labels_and_options_of_networks_and_volumes(stack: StackFixture) -> None:
    body = f"""
[networks.front]
labels = {{ zone = "dmz" }}
options = {{ "com.docker.network.driver.mtu" = "1400" }}

[volumes.data]
labels = {{ tier = "db" }}
driver_opts = {{ type = "tmpfs", device = "tmpfs" }}

[containers.app]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
networks = ["front"]
volumes = ["data:/data"]
"""
    stack.write(body)
    stack.apply()
    assert stack.plan().code == 0  # what the engine reports back matches: no perpetual diff

    stack.write(body.replace('zone = "dmz"', 'zone = "lan"').replace('tier = "db"', 'tier = "cache"'))
    plan = stack.plan()
    assert plan.code == 2, plan.both
    assert "network" in plan.out and "labels" in plan.out and "will be replaced" in plan.out, plan.out
    assert f"volume '{stack.name}_data' has other labels than declared" in plan.out, plan.out
    stack.apply()
    net = stack.api.networks(names=[f"{stack.name}_front"])[0]  # type: ignore[attr-defined]
    assert net["Labels"]["zone"] == "lan"
    plan = stack.plan()
    assert plan.code == 0 and "other labels than declared" in plan.out, plan.out  # the volume: warned, kept


def test_external_networks_and_volumes_are_used_by_their_own_names(stack: StackFixture) -> None:
    api = stack.api
    vol, net = f"{stack.name}-ext-vol", f"{stack.name}-ext-net"
    body = f"""
[volumes.{vol}]
external = true

[networks.{net}]
external = true

[containers.app]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
volumes = ["{vol}:/data"]
networks = ["{net}"]
"""
    stack.write(body)
    plan = stack.plan()
    assert plan.code == 1, plan.both
    assert f"external volume '{vol}' does not exist" in plan.both and f"external network '{net}'" in plan.both
    assert stack.apply(check=False).code == 1 and stack.containers() == []

    api.create_volume(vol)  # type: ignore[attr-defined]
    api.create_network(net)  # type: ignore[attr-defined]
    try:
        stack.apply()
        info = stack.inspect(f"{stack.name}-app")
        assert [m["Name"] for m in info["Mounts"]] == [vol]
        assert list(info["NetworkSettings"]["Networks"]) == [net]
        assert stack.plan().code == 0
        assert stack.run("destroy", str(stack.file), "--auto-approve", "--volumes").code == 0
        assert api.inspect_volume(vol)["Name"] == vol  # type: ignore[attr-defined]
        assert api.inspect_network(net)["Name"] == net  # type: ignore[attr-defined]
    finally:
        for c in stack.containers():
            api.remove_container(c["Id"], force=True)  # type: ignore[attr-defined]
        api.remove_network(net)  # type: ignore[attr-defined]
        api.remove_volume(vol)  # type: ignore[attr-defined]
