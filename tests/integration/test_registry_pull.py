"""`plan --pull` sees a tag that moved in the registry (a local registry from Debian's docker-registry)."""

from __future__ import annotations

import os
import urllib.request
import uuid

import pytest

from tests.integration.conftest import BUSYBOX, BUSYBOX2, StackFixture

REGISTRY = "127.0.0.1:5000"


@pytest.fixture
def registry_repo(docker_api):  # type: ignore[no-untyped-def]
    try:
        urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=3)
    except OSError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and no registry answers on {REGISTRY} (scripts/registry-up): {exc}")
        pytest.skip(f"no registry on {REGISTRY}: {exc}")
    repo = f"{REGISTRY}/hft{uuid.uuid4().hex[:8]}/app"
    yield repo
    for image in docker_api.images(name=repo):
        for tag in image.get("RepoTags") or []:
            if tag.startswith(repo):
                docker_api.remove_image(tag)


def _push(api, source: str, repo: str, tag: str) -> None:  # type: ignore[no-untyped-def]
    api.tag(source, repo, tag)
    for event in api.push(repo, tag=tag, stream=True, decode=True):
        assert "error" not in event, event


def test_plan_pull_sees_a_new_image_under_the_same_tag(stack: StackFixture, registry_repo: str) -> None:
    api = stack.api
    ref = f"{registry_repo}:v1"
    _push(api, BUSYBOX, registry_repo, "v1")
    api.remove_image(ref)  # hostform pulls it (pull = "missing")
    stack.write(f"""
[containers.app]
image = "{ref}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
""")
    stack.apply()
    assert stack.plan().code == 0
    old_id = api.inspect_image(ref)["Id"]
    # the registry gets a new image under the same tag; the local tag still names the old one
    _push(api, BUSYBOX2, registry_repo, "v1")
    api.tag(BUSYBOX, registry_repo, "v1")
    assert stack.plan().code == 0  # without --pull nothing is fetched
    pulled = stack.plan("--pull")
    assert pulled.code == 2, pulled.both
    new_id = api.inspect_image(BUSYBOX2)["Id"]
    assert "will be replaced" in pulled.out
    assert old_id.removeprefix("sha256:")[:12] in pulled.out and new_id.removeprefix("sha256:")[:12] in pulled.out
    stack.apply()
    assert stack.inspect(f"{stack.name}-app")["Image"] == new_id
    assert stack.plan().code == 0


def test_pull_never_with_a_missing_image_is_a_clear_error(stack: StackFixture) -> None:
    stack.write("""
[containers.app]
image = "hostform-test/absent:404"
pull = "never"
""")
    result = stack.run("apply", str(stack.file), "--auto-approve")
    assert result.code == 1
    assert "hostform-test/absent:404" in result.err and "pull = 'never'" in result.err
    assert "Traceback" not in result.both
