"""Built images: the stack format, the content digest of a context, and the reasons a plan gives."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from hostform.declare.builds import BuildRef, registry_of, repository_for
from hostform.declare.errors import StackError
from hostform.declare.load import load
from hostform.runtime.build_context import (
    ContextCache,
    context_digest,
    context_listing,
    describe_change,
    resolve_builds,
)

_CLOCK = [time.time() - 600]


def _tree(root: Path, files: dict[str, str]) -> None:
    """Write files, each edit a second after the last and all older than the cache's racy window."""
    _CLOCK[0] += 1
    when = _CLOCK[0]
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        os.utime(path, (when, when))
        for parent in [*path.relative_to(root).parents][:-1]:
            os.utime(root / parent, (when, when))
    os.utime(root, (when, when))


def _stack(tmp_path: Path, body: str, **files: str) -> Path:
    (tmp_path / "hostform.toml").write_text(f'[stack]\nname = "b"\n{body}', encoding="utf-8")
    _tree(tmp_path, files)
    return tmp_path / "hostform.toml"


APP = {"app/Dockerfile": "FROM hostform-test/busybox:1\nCOPY . /app\n", "app/main.py": "print(1)\n"}


def test_build_as_a_folder_or_a_table_and_the_default_repository(tmp_path: Path) -> None:
    path = _stack(
        tmp_path,
        '[containers.web]\nbuild = "./app"\n'
        '[jobs.migrate]\nimage = "reg.example:5000/x/m"\n'
        'build = { context = "app", dockerfile = "Dockerfile", args = { V = "{{ vars.v }}", N = 2 }, target = "t" }\n'
        '[vars]\nv = "1.2"\n',
        **APP,
    )
    loaded = load(path)
    web, job = loaded.stack.containers["web"], loaded.stack.jobs["migrate"]
    assert web.image == "b/web" and web.build is not None and web.build.context == str(tmp_path / "app")
    assert job.image == "reg.example:5000/x/m"
    assert job.build is not None and job.build.args == {"V": "1.2", "N": "2"} and job.build.target == "t"


def test_stack_registry_prefixes_built_images_unless_they_name_a_registry() -> None:
    assert repository_for("blog", "web", "", "127.0.0.1:5000") == "127.0.0.1:5000/blog/web"
    assert repository_for("blog", "web", "team/web", "127.0.0.1:5000") == "127.0.0.1:5000/team/web"
    assert repository_for("blog", "web", "other.example/web", "127.0.0.1:5000") == "other.example/web"
    assert registry_of("localhost/x") == "localhost" and registry_of("blog/web") is None


@pytest.mark.parametrize(
    ("body", "key", "words"),
    [
        (
            '[containers.web]\nbuild = { context = "app", args = { T = "{{ secret(\'TOKEN\') }}" } }\n',
            "containers.web.build.args.T",
            "image's history",
        ),
        ('[containers.web]\nbuild = "../elsewhere"\n', "containers.web.build.context", "outside the stack's folder"),
        ('[containers.web]\nbuild = "./nothere"\n', "containers.web.build.context", "is not a folder"),
        (
            '[containers.web]\nbuild = { context = "app", dockerfile = "Nope" }\n',
            "containers.web.build.dockerfile",
            "no Dockerfile",
        ),
        ('[containers.web]\nbuild = "app"\nimage = "b/web:1.0"\n', "containers.web", "repository only"),
    ],
)
def test_build_mistakes_are_one_clear_problem(tmp_path: Path, body: str, key: str, words: str) -> None:
    path = _stack(tmp_path, body, **APP)
    with pytest.raises(StackError) as exc:
        load(path, environ={"TOKEN": "s3cret-value"})
    (problem,) = exc.value.problems
    assert problem.key == key and words in problem.message
    assert "s3cret-value" not in str(exc.value)


def test_the_digest_covers_what_is_sent_and_nothing_ignored(tmp_path: Path) -> None:
    root, cache = tmp_path / "ctx", tmp_path / "cache"
    _tree(root, {"Dockerfile": "FROM x\n", "a.py": "1\n", "logs/x.log": "noise\n", ".dockerignore": "logs\n*.tmp\n"})

    def digest(args: dict[str, str] | None = None, target: str | None = None) -> str:
        return context_digest(
            context_listing(root, "Dockerfile", cache), "Dockerfile", args or {}, target, cache
        ).digest

    first = digest()
    assert digest() == first
    _tree(root, {"logs/x.log": "more noise\n", "b.tmp": "ignored\n"})
    assert digest() == first  # ignored files change nothing
    assert digest({"V": "1"}) != first and digest(target="t") != first
    _tree(root, {"a.py": "2\n"})
    assert digest() != first


def test_the_listing_matches_the_docker_sdk_exclusions(tmp_path: Path) -> None:
    from docker.utils.build import exclude_paths

    ignore = "pkg1\n*/f1*.py\n!pkg1/f5.py\n**/*.pyc\n"
    files = {f"pkg{i}/f{j}.py": "x\n" for i in range(3) for j in range(12)}
    files |= {"pkg2/c.pyc": "", "Dockerfile": "FROM x\n", ".dockerignore": ignore, "top.pyc": ""}
    _tree(tmp_path / "ctx", files)
    mine = set(context_listing(tmp_path / "ctx", "Dockerfile", tmp_path / "cache"))
    theirs = exclude_paths(str(tmp_path / "ctx"), [line for line in ignore.splitlines() if line], "Dockerfile")
    assert mine == theirs


def test_unchanged_files_are_not_read_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root, cache = tmp_path / "ctx", tmp_path / "cache"
    _tree(root, {"Dockerfile": "FROM x\n", "a.py": "1\n"})
    first = context_listing(root, "Dockerfile", cache)
    assert ContextCache(root, cache).data["files"]["a.py"][2]
    import hostform.runtime.build_context as bc

    def refuse(path: Path) -> str:
        raise AssertionError(f"{path} read again")

    monkeypatch.setattr(bc, "_sha_of", refuse)
    assert context_listing(root, "Dockerfile", cache) == first


def test_a_changed_context_names_the_files(tmp_path: Path) -> None:
    root, cache = tmp_path / "ctx", tmp_path / "cache"
    _tree(root, {"Dockerfile": "FROM x\n", "app/main.py": "1\n", "app/util.py": "1\n"})
    old = context_digest(context_listing(root, "Dockerfile", cache), "Dockerfile", {"V": "1"}, None, cache)
    _tree(root, {"app/main.py": "2\n", "app/new.py": "x\n", "app/more.py": "y\n", "app/z.py": "z\n"})
    new = context_digest(context_listing(root, "Dockerfile", cache), "Dockerfile", {"V": "2"}, None, cache)
    ref = BuildRef("b/web", new.digest, root, "Dockerfile", {"V": "2"})
    text = describe_change(f"ctx-{old.digest[:12]}", ref, cache)
    assert text.startswith("build context changed: app/main.py, app/more.py (new), app/new.py (new) (+1 file)")
    assert 'build arg V: "1" -> "2"' in text
    # a machine that never saw the old context names the two tags
    unknown = describe_change("ctx-000000000000", ref, cache)
    assert unknown == f"build context changed: ctx-000000000000 -> {ref.tag}"


def test_resolve_gives_each_built_service_its_content_tag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = _stack(
        tmp_path,
        '[containers.a]\nbuild = "app"\n[containers.b]\nbuild = "app"\nimage = "b/a"\n'
        '[containers.c]\nimage = "hostform-test/busybox:1"\n',
        **APP,
    )
    loaded = resolve_builds(load(path))
    a, b = loaded.builds["a"], loaded.builds["b"]
    assert a.ref == b.ref and loaded.stack.containers["a"].image == a.ref and a.tag.startswith("ctx-")
    assert "c" not in loaded.builds and loaded.stack.containers["c"].image == "hostform-test/busybox:1"
    assert (tmp_path / "xdg" / "hostform" / "contexts").is_dir()  # outside the stack's folder


def _planned(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, image_id: str | None, digests: tuple[str, ...] = ()):  # type: ignore[no-untyped-def]
    from hostform.plans.diff import make_plan
    from hostform.runtime.records import Observed

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = _stack(tmp_path, '[containers.web]\nbuild = "app"\n', **APP)
    loaded = resolve_builds(load(path))
    ref = loaded.builds["web"]
    observed = Observed("b", (), (), (), (), {ref.ref: image_id}, None, repo_digests={ref.ref: digests})
    return loaded, make_plan(loaded, observed)


def test_a_plan_builds_before_the_containers_that_use_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hostform.plans.model import Action
    from hostform.plans.render import plan_lines

    loaded, plan = _planned(tmp_path, monkeypatch, None)
    first = plan.actionable[0]
    assert first.action is Action.BUILD and first.engine_name == loaded.builds["web"].ref
    text = "\n".join("".join(part for part, _ in line) for line in plan_lines(plan))
    assert f"+ build {loaded.builds['web'].ref}" in text
    assert "Plan: 1 to build, 2 to add" in text and plan.counts()["build"] == 1


def test_a_present_image_is_not_built_and_a_pushing_stack_pushes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dataclasses import replace

    from hostform.plans.diff import image_changes
    from hostform.plans.model import Action
    from hostform.runtime.records import Observed

    loaded, plan = _planned(tmp_path, monkeypatch, "sha256:" + "1" * 64)
    assert all(c.kind != "image" for c in plan.changes)
    ref = loaded.builds["web"]
    pushing = replace(loaded, builds={"web": replace(ref, push=True)})
    observed = Observed("b", (), (), (), (), {ref.ref: "sha256:" + "1" * 64}, None)
    (push,) = image_changes(pushing, observed, [])
    assert push.action is Action.PUSH
    pushed = replace(observed, repo_digests={ref.ref: (f"{ref.repository}@sha256:{'2' * 64}",)})
    assert not list(image_changes(pushing, pushed, []))
