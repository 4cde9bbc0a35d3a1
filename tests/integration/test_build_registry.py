"""Built images and registries on the real engine: a push with the user's Docker credentials,
a registry refusing missing or wrong ones, and a second engine that only pulls running the
pushed image by digest."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.conftest import BUSYBOX, StackFixture, remove_stack_objects
from tests.integration.registries import PullEngine, Registry, auth_registry, netns_with_veth, pull_engine


@dataclass(frozen=True)
class Bed:
    registry: Registry
    engine: PullEngine


@pytest.fixture(scope="session")
def bed(docker_api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:  # type: ignore[no-untyped-def]
    work = tmp_path_factory.mktemp("hfimg")
    tag = uuid.uuid4().hex[:6]
    with netns_with_veth(tag) as (netns, host_ip, _), auth_registry(work / "registry", host_ip) as registry:
        port = int(registry.address.rpartition(":")[2])
        with pull_engine(Path(f"/var/lib/hfimg-{tag}"), netns, port, host_ip) as engine:
            yield Bed(registry, engine)


def _write(stack: StackFixture, registry: Registry, version: str = "v1") -> None:
    stack.write(f"""registry = "{registry.address}"
push = true

[containers.web]
build = "./app"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
""")
    app = stack.dir / "app"
    app.mkdir(exist_ok=True)
    (app / "Dockerfile").write_text(f"FROM {BUSYBOX}\nCOPY version /version\n")
    (app / "version").write_text(f"{version}\n")


def test_push_with_credentials_then_an_engine_that_only_pulls_runs_it_by_digest(
    stack: StackFixture, bed: Bed, tmp_path: Path
) -> None:
    import docker

    stack.env["DOCKER_CONFIG"] = str(bed.registry.docker_config(tmp_path / "docker"))
    stack.env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    _write(stack, bed.registry)
    applied = stack.apply()
    repo = f"{bed.registry.address}/{stack.name}/web"
    (tag,) = bed.registry.tags(repo)
    assert tag.startswith("ctx-") and f"pushed {repo}@sha256:" in applied.out, applied.out
    assert stack.plan().code == 0
    remote = bed.engine.url
    b_api = docker.APIClient(base_url=remote, version="1.41", timeout=60)
    try:
        plan = stack.plan("--host", remote)
        assert plan.code == 2 and "build" not in plan.out, plan.out  # built and pushed already
        stack.apply("--host", remote)
        live = b_api.inspect_container(f"{stack.name}-web")
        assert live["Config"]["Image"].startswith(f"{repo}@sha256:"), live["Config"]["Image"]
        assert live["State"]["Running"]
        tags = [t for image in b_api.images() for t in image.get("RepoTags") or []]
        assert not [t for t in tags if ":ctx-" in t], tags  # it pulled by digest, it built nothing
        assert stack.plan("--host", remote).code == 0
        # an edit: built here, pushed, pulled there by its new digest
        (stack.dir / "app" / "version").write_text("v2\n")
        moved = stack.apply("--host", remote)
        assert "build context changed: version" in moved.out and "Step" in moved.out, moved.out
        after = b_api.inspect_container(f"{stack.name}-web")["Config"]["Image"]
        assert after != live["Config"]["Image"] and after.startswith(f"{repo}@sha256:")
        assert len(bed.registry.tags(repo)) == 2
    finally:
        remove_stack_objects(b_api, stack.name)
        for image in b_api.images(name=repo):
            b_api.remove_image(image["Id"], force=True)


@pytest.mark.parametrize("password", [None, "wrong"])
def test_missing_or_wrong_credentials_are_one_clear_error(
    stack: StackFixture, bed: Bed, tmp_path: Path, password: str | None
) -> None:
    config = tmp_path / "docker"
    if password is None:
        config.mkdir()
        (config / "config.json").write_text("{}")
    else:
        bed.registry.docker_config(config, password)
    stack.env["DOCKER_CONFIG"] = str(config)
    stack.env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    _write(stack, bed.registry)
    result = stack.apply(check=False)
    assert result.code == 1 and "Traceback" not in result.both
    assert f"registry {bed.registry.address}" in result.err, result.err
    if password is None:
        assert f"has none for it (docker login {bed.registry.address})" in result.err
    else:
        assert "refused the credentials" in result.err
    assert not stack.containers()  # nothing was touched
