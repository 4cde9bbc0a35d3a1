"""Primitive actions on the engine, each leaving the host in a state a re-run converges."""

from __future__ import annotations

from typing import Any

from hostform.declare import names
from hostform.declare.errors import ImageMissing
from hostform.declare.load import LoadedStack
from hostform.declare.spec import ContainerSpec, NetworkSpec, VolumeSpec, restart_policy
from hostform.runtime.container_config import create_body, declared_aliases, naming, network_attachments, resources
from hostform.runtime.engine import Engine


def ensure_image(engine: Engine, spec: ContainerSpec) -> str:
    """The image per the pull policy; returns its ID."""
    have = engine.image_id(spec.image)
    if spec.pull == "always" or (have is None and spec.pull == "missing"):
        return engine.pull(spec.image, spec.platform) if spec.platform else engine.pull(spec.image)
    if have is None:
        raise ImageMissing(f"image {spec.image!r} is not on the engine and pull = 'never'")
    return have


def create_container(
    engine: Engine,
    loaded: LoadedStack,
    name: str,
    kind: str,
    replica: int,
    engine_name: str,
    canonical: dict[str, Any],
    announce: bool = True,
    image: str | None = None,
) -> str:
    """Create (not start) a container with its files copied in and every network attached.

    announce=False leaves out the service aliases, so name lookups do not reach
    it before `announce()` (a start-first replacement that is not ready yet).
    """
    spec = loaded.stack.services()[name]  # its image is made ready first (plans.apply: _prepare_images)
    body = create_body(naming(loaded), name, kind, spec, replica, canonical, image)
    for endpoint in body["NetworkingConfig"]["EndpointsConfig"].values() if not announce else ():
        endpoint["Aliases"] = []
    ident = engine.create_container(engine_name, body, spec.platform)
    try:
        for fm in spec.files:
            engine.put_file(ident, fm.target, loaded.files[fm.source].data, fm.mode)
        for net, aliases in network_attachments(naming(loaded), name, spec)[1:]:
            engine.connect(ident, net, aliases if announce else [])
    except BaseException:
        engine.remove_container(ident)
        raise
    return ident


def folders_in_image(
    engine: Engine, loaded: LoadedStack, name: str, kind: str, image: str, paths: list[str]
) -> list[str]:
    """Which of `paths` are folders in `image`, asked of a container made from it that is never
    started and is removed at once. It carries the service's labels under a temporary name, so
    that a probe an interrupted apply left behind is removed by the next one, as its other
    temporary containers are."""
    spec = loaded.stack.services()[name]
    home = names.container_name(loaded.name, name, 1, spec.replicas)
    labels = {**names.owner_labels(loaded.name, name, kind), names.LABEL_REPLICA: "1"}
    body = {
        "Image": image,
        "Entrypoint": ["/hostform-probe"],  # never run: an image without a command can be created too
        "Labels": labels,
        "NetworkDisabled": True,
        "HostConfig": {"NetworkMode": "none"},
    }
    ident = engine.create_container(names.temp_name(home, names.TEMP_NEW), body)
    try:
        return [p for p in paths if engine.is_folder(ident, p)]
    finally:
        engine.remove_container(ident)


def announce(engine: Engine, loaded: LoadedStack, name: str, ident: str) -> None:
    """Give a container created with announce=False its service aliases (Docker adds aliases only on connect)."""
    for net, aliases in network_attachments(naming(loaded), name, loaded.stack.services()[name]):
        engine.disconnect(ident, net)
        engine.connect(ident, net, aliases)


def update_in_place(engine: Engine, loaded: LoadedStack, name: str, ident: str, live_networks: dict[str, Any]) -> None:
    spec = loaded.stack.services()[name]
    body: dict[str, Any] = dict(resources(spec))
    if spec.memory:
        body["MemorySwap"] = spec.memory * 2  # Docker's default; must stay >= Memory
    else:
        body["MemorySwap"] = -1 if body["Memory"] == 0 else body["MemorySwap"]
    body["RestartPolicy"] = restart_policy(spec.restart)
    engine.update_resources(ident, body)
    if spec.network_mode is not None:
        return  # the networks are its namespace's (network_mode): nothing to connect
    want = dict((n, a) for n, a in network_attachments(naming(loaded), name, spec))
    for net in sorted(set(live_networks) - set(want)):
        engine.disconnect(ident, net)
    for net, aliases in sorted(want.items()):
        if net not in live_networks:
            engine.connect(ident, net, aliases)
        elif declared_aliases(live_networks[net], spec.hostname, aliases) != tuple(aliases):
            engine.disconnect(ident, net)
            engine.connect(ident, net, aliases)


def stop_and_remove(engine: Engine, ident: str, grace_ns: int) -> None:
    engine.stop(ident, timeout=max(0, grace_ns // 10**9))
    engine.remove_container(ident)


def create_network(engine: Engine, stack: str, name: str, spec: NetworkSpec, key: bytes) -> str:
    labels = {**spec.labels, **names.owner_labels(stack, name, "network")}
    if name == names.DEFAULT_NETWORK:
        labels[names.LABEL_KEY] = key.hex()
    ipam = None
    if spec.subnet:
        pool = {"Subnet": spec.subnet, **({"Gateway": spec.gateway} if spec.gateway else {})}
        ipam = {"Driver": "default", "Config": [pool]}
    return engine.create_network(
        names.network_name(stack, name),
        driver=spec.driver,
        options=spec.options or None,
        ipam=ipam,
        internal=spec.internal,
        labels=labels,
        attachable=spec.attachable or None,
    )


def create_volume(engine: Engine, stack: str, name: str, spec: VolumeSpec) -> None:
    labels = {**spec.labels, **names.owner_labels(stack, name, "volume")}
    engine.create_volume(names.volume_name(stack, name), spec.driver, spec.driver_opts, labels)
