"""Images built from a folder, on the real engine: build, no-op, rebuild on an edit, ignored files,
a failing build, and prune-images keeping what is in use."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.integration.conftest import BUSYBOX, StackFixture

DOCKERFILE = f'FROM {BUSYBOX}\nCOPY site /www\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n'
STACK = """
[containers.web]
build = { context = "./app", network = "none" }
stop_signal = "SIGKILL"
"""


@pytest.fixture
def built(stack: StackFixture, tmp_path: Path) -> StackFixture:
    stack.env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # the context cache, outside the stack folder
    stack.write(STACK)
    app = stack.dir / "app"
    (app / "site").mkdir(parents=True)
    (app / "Dockerfile").write_text(DOCKERFILE)
    (app / "site" / "index.html").write_text("v1\n")
    (app / "site" / "other.html").write_text("other\n")
    (app / ".dockerignore").write_text("*.log\nnotes\n")
    return stack


def _tag(text: str) -> str:
    found = re.search(r"build (\S+:ctx-[0-9a-f]{12})", text)
    assert found, text
    return found.group(1)


def test_build_on_first_apply_then_no_op(built: StackFixture) -> None:
    plan = built.plan()
    assert plan.code == 2, plan.both
    tag = _tag(plan.out)
    assert tag.startswith(f"{built.name}/web:ctx-")
    assert plan.out.index("+ build") < plan.out.index("container")  # the build comes before its user
    applied = built.apply()
    assert "Step 2/" in applied.out and "COPY site /www" in applied.out  # one line per step on a pipe
    image_id = built.api.inspect_image(tag)["Id"]  # type: ignore[attr-defined]
    assert built.inspect(f"{built.name}-web")["Image"] == image_id
    again = built.plan()
    assert again.code == 0 and "build" not in again.out, again.both
    rerun = built.apply()
    assert "Step" not in rerun.out  # no rebuild
    assert built.api.inspect_image(tag)["Id"] == image_id  # type: ignore[attr-defined]


def test_an_edited_file_rebuilds_and_replaces_naming_the_file(built: StackFixture) -> None:
    first = _tag(built.apply().out)
    old_id = built.inspect(f"{built.name}-web")["Id"]
    (built.dir / "app" / "site" / "index.html").write_text("v2\n")
    plan = built.plan()
    assert plan.code == 2
    second = _tag(plan.out)
    assert second != first
    assert "will be replaced" in plan.out and "build context changed: site/index.html" in plan.out, plan.out
    built.apply()
    live = built.inspect(f"{built.name}-web")
    assert live["Id"] != old_id and live["Config"]["Image"] == second
    assert built.plan().code == 0


def test_an_ignored_file_changes_nothing(built: StackFixture) -> None:
    built.apply()
    (built.dir / "app" / "debug.log").write_text("noise\n")
    (built.dir / "app" / "notes").mkdir()
    (built.dir / "app" / "notes" / "todo.txt").write_text("later\n")
    plan = built.plan()
    assert plan.code == 0, plan.both


def test_a_failing_build_leaves_the_host_untouched(built: StackFixture) -> None:
    built.apply()
    before = built.inspect(f"{built.name}-web")
    dockerfile = built.dir / "app" / "Dockerfile"
    dockerfile.write_text(DOCKERFILE + 'RUN echo "about to fail" && false\n')
    (built.dir / "app" / "site" / "index.html").write_text("v2\n")
    result = built.apply(check=False)
    assert result.code == 1 and "Traceback" not in result.both
    assert "failed at Step 4/" in result.both and "about to fail" in result.both, result.both
    assert "containers.web: not done" in result.err
    after = built.inspect(f"{built.name}-web")
    assert after["Id"] == before["Id"] and after["State"]["Running"]


def test_prune_images_keeps_what_is_in_use(built: StackFixture) -> None:
    tags = [_tag(built.apply().out)]
    for version in ("v2", "v3"):
        (built.dir / "app" / "site" / "index.html").write_text(f"{version}\n")
        tags.append(_tag(built.apply().out))
    api = built.api
    present = lambda tag: bool(api.images(name=tag))  # type: ignore[attr-defined]  # noqa: E731
    assert all(present(t) for t in tags)
    # another stack's container runs the oldest image: never removed
    other = api.create_container(tags[0], name=f"{built.name}-other", labels={"test": built.name})  # type: ignore[attr-defined]
    try:
        result = built.run("prune-images", str(built.file), "--keep", "0", check=True)
        assert present(tags[0]) and present(tags[2]), result.out  # in use by another container / by the stack
        assert not present(tags[1]), result.out
        assert tags[1] in result.out
    finally:
        api.remove_container(other["Id"], force=True)  # type: ignore[attr-defined]


SHARED = """
[containers.db]
build = { context = "./app", network = "none" }
stop_signal = "SIGKILL"

[jobs.migrate]
build = { context = "./app", network = "none" }
command = ["true"]
"""


def test_one_context_for_two_resources_is_built_once_and_tagged_for_each(built: StackFixture) -> None:
    built.write(SHARED)
    plan = built.plan()
    db, migrate = f"{built.name}/db", f"{built.name}/migrate"
    assert plan.out.count("+ build ") == 1, plan.out
    tag = _tag(plan.out)
    assert tag.startswith(f"{db}:ctx-")
    assert f"built once, also tagged {migrate}:{tag.rpartition(':')[2]}" in plan.out, plan.out
    applied = built.apply()
    assert applied.out.count("Step 1/") == 1, applied.out  # one build, not one per repository
    api = built.api
    image = api.inspect_image(tag)["Id"]  # type: ignore[attr-defined]
    assert api.inspect_image(f"{migrate}:{tag.rpartition(':')[2]}")["Id"] == image  # type: ignore[attr-defined]
    assert built.inspect(f"{built.name}-db")["Image"] == image
    assert built.plan().code == 0


def test_a_second_user_of_a_context_already_built_only_tags_it(built: StackFixture) -> None:
    built.apply()  # web built alone
    built.write(STACK + '\n[jobs.migrate]\nbuild = { context = "./app", network = "none" }\ncommand = ["true"]\n')
    plan = built.plan()
    assert plan.code == 2 and plan.out.count("+ build ") == 1, plan.out
    assert f"the same build as {built.name}/web:ctx-" in plan.out and "tagged, not built again" in plan.out
    applied = built.apply()
    assert "Step 1/" not in applied.out, applied.out  # tagged, not built
    assert built.plan().code == 0
