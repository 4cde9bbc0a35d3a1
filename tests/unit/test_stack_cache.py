"""The cache of validated stacks (declare.stack_cache): used only for the very input it was made
from, never holding a secret, and a planted, altered or foreign entry is a miss, never trusted."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import textwrap
from pathlib import Path
from typing import Any

import pytest

from hostform.declare import schema, spec, stack_cache
from hostform.declare.canonical import fields_of
from hostform.declare.errors import StackError
from hostform.declare.load import LoadedStack, load
from hostform.declare.schema import Stack
from hostform.declare.secrets import Secret

BODY = """
[stack]
name = "cached"
env = ["TAG"]

[vars]
port = 8080
inner = 80

[containers.web]
image = "busybox:{{ env('TAG', default='1') }}"
ports = ["{{ vars.port }}:{{ vars.inner }}"]
command = "httpd -f"
volumes = ["./data:/data", "logs:/logs"]

[containers.worker]
image = "busybox:1"
update = { order = "start-first" }

[volumes.logs]
"""


@pytest.fixture(autouse=True)
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "cache-home"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    return home


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per real validation of a whole stack (a cache hit adds none)."""
    calls: list[int] = []
    real = Stack.model_validate.__func__  # type: ignore[attr-defined]

    def counting(cls: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(cls, *args, **kwargs)

    monkeypatch.setattr(Stack, "model_validate", classmethod(counting))
    return calls


def stack_file(folder: Path, body: str = BODY) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "hostform.toml"
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


def cached_load(path: Path, **kw: Any) -> LoadedStack:
    kw.setdefault("environ", {})
    return load(path, cache=True, **kw)


def entries(home: Path) -> list[Path]:
    folder = home / "hostform" / "stacks"
    return sorted(p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else []


def test_a_second_load_of_the_same_input_skips_validation_and_gives_the_same_stack(
    tmp_path: Path, validations: list[int], cache_home: Path
) -> None:
    path = stack_file(tmp_path / "s")
    first = cached_load(path)
    assert len(validations) == 1 and len(entries(cache_home)) == 1
    second = cached_load(path)
    assert len(validations) == 1  # from the cache
    assert second.stack == first.stack
    assert second.stack.model_fields_set == first.stack.model_fields_set
    web = second.stack.containers["web"]
    assert web.model_fields_set == first.stack.containers["web"].model_fields_set
    assert fields_of(web) == first.stack.containers["web"].model_dump(mode="python")
    assert second.stack.all_networks() == first.stack.all_networks()


def test_without_cache_nothing_is_read_or_written(tmp_path: Path, validations: list[int], cache_home: Path) -> None:
    path = stack_file(tmp_path / "s")
    load(path, environ={})
    load(path, environ={})
    assert len(validations) == 2 and entries(cache_home) == []


def test_the_untrusted_mode_neither_reads_nor_writes_the_cache(
    tmp_path: Path, validations: list[int], cache_home: Path
) -> None:
    from hostform.declare.access import Access

    path = stack_file(tmp_path / "s")
    cached_load(path)
    cached_load(path, access=Access(untrusted=True, allow_env=frozenset({"TAG"})))
    assert len(validations) == 2 and len(entries(cache_home)) == 1


@pytest.mark.parametrize(
    "change",
    ["stack file", "var file", "var", "plain env", "folder", "working folder", "home", "code", "order"],
)
def test_every_input_that_affects_validation_gives_another_entry(
    tmp_path: Path, validations: list[int], monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    folder = tmp_path / "s"
    path = stack_file(folder, BODY.replace('"./data:/data"', '"./data:/data", "~/x:/x"'))
    var_file = folder / "vars.toml"
    var_file.write_text("inner = 81\n")
    monkeypatch.chdir(folder)
    kw: dict[str, Any] = {"var_files": [str(var_file)], "var_overrides": ["port=9000"], "environ": {"TAG": "2"}}
    before = cached_load(path, **kw)
    assert cached_load(path, **kw).stack == before.stack and len(validations) == 1
    if change == "stack file":
        path.write_text(path.read_text().replace("httpd -f", "httpd -f -v"))
    elif change == "var file":
        var_file.write_text("inner = 82\n")
    elif change == "var":
        kw["var_overrides"] = ["port=9001"]
    elif change == "plain env":
        kw["environ"] = {"TAG": "3"}
    elif change == "folder":  # relative paths resolve against the stack's folder
        other = tmp_path / "elsewhere"
        shutil.copytree(folder, other)
        path, kw["var_files"] = other / "hostform.toml", [str(other / "vars.toml")]
    elif change == "working folder":
        monkeypatch.chdir(tmp_path)
        kw["var_files"] = [str(var_file)]  # the same file, so only the working folder differs
    elif change == "home":  # "~/x" resolves against it
        monkeypatch.setenv("HOME", str(tmp_path / "another-home"))
    elif change == "code":  # another hostform, pydantic or Python
        monkeypatch.setattr(stack_cache, "_code_digest", "0" * 64)
    elif change == "order":  # the same keys in another order: the stack keeps the file's order
        path.write_text(
            path.read_text().replace("[volumes.logs]\n", "").replace("[stack]", "[volumes.logs]\n\n[stack]")
        )
    after = cached_load(path, **kw)
    assert len(validations) == 2, "a changed input must be validated afresh"
    if change in ("stack file", "var file", "var", "plain env", "folder", "home"):
        assert after.stack != before.stack


def test_a_stack_holding_a_secret_is_never_cached(tmp_path: Path, validations: list[int], cache_home: Path) -> None:
    path = stack_file(
        tmp_path / "s",
        BODY + '\n[containers.db]\nimage = "busybox:1"\nenv = { PASSWORD = "{{ secret(\'DB_PASSWORD\') }}" }\n',
    )
    for _ in range(2):
        loaded = cached_load(path, environ={"DB_PASSWORD": "hunter2-cache"})
        assert loaded.stack.containers["db"].env["PASSWORD"].reveal() == "hunter2-cache"  # type: ignore[union-attr]
    assert len(validations) == 2 and entries(cache_home) == []
    assert not any(b"hunter2" in p.read_bytes() for p in cache_home.rglob("*") if p.is_file())


def test_a_secret_in_a_file_template_is_read_afresh_and_never_stored(
    tmp_path: Path, validations: list[int], cache_home: Path
) -> None:
    folder = tmp_path / "s"
    path = stack_file(folder, BODY + '\n[files.conf]\ntemplate = "conf.j2"\n')
    (folder / "conf.j2").write_text("token={{ secret('TOKEN') }}\n")
    first = cached_load(path, environ={"TOKEN": "s3cret-one"})
    second = cached_load(path, environ={"TOKEN": "s3cret-two"})
    assert len(validations) == 1  # the stack itself holds only the template's path
    assert first.files["conf"].data == b"token=s3cret-one\n"
    assert second.files["conf"].data == b"token=s3cret-two\n"
    assert second.files["conf"].is_secret
    assert not any(b"s3cret" in p.read_bytes() for p in cache_home.rglob("*") if p.is_file())


def test_a_stack_reading_env_files_is_not_cached(tmp_path: Path, validations: list[int], cache_home: Path) -> None:
    folder = tmp_path / "s"
    path = stack_file(folder, BODY.replace('command = "httpd -f"', 'command = "httpd -f"\nenv_file = ".env"'))
    (folder / ".env").write_text("API_KEY=from-an-env-file\n")
    cached_load(path)
    cached_load(path)
    assert len(validations) == 2 and entries(cache_home) == []


def test_an_invalid_stack_is_reported_every_time(tmp_path: Path, cache_home: Path) -> None:
    path = stack_file(tmp_path / "s", BODY.replace("command", "comand"))
    for _ in range(2):
        with pytest.raises(StackError, match="comand"):
            cached_load(path)
    assert entries(cache_home) == []


# ---------------------------------------------------------------- planted, altered, foreign entries


def _prime(tmp_path: Path, cache_home: Path) -> tuple[Path, Path]:
    path = stack_file(tmp_path / "s")
    cached_load(path)
    (entry,) = entries(cache_home)
    return path, entry


class Boom:
    def __reduce__(self) -> Any:
        return (os.system, ("touch planted-code-ran",))


def _entry(key: str, payload: bytes) -> bytes:
    """An entry whose head is right for `payload`: only the payload itself can be refused."""
    import hashlib

    return stack_cache.FORMAT + f"{key}\n{hashlib.sha256(payload).hexdigest()}\n\n".encode() + payload


@pytest.mark.parametrize(
    "poison",
    [
        *("garbage", "truncated", "payload altered", "a pickle calling code", "a class off the list"),
        *("a class with other fields", "another model", "a tag that is not one", "a stack of another input"),
    ],
)
def test_a_poisoned_entry_is_ignored_and_the_stack_validated_afresh(
    tmp_path: Path, validations: list[int], cache_home: Path, monkeypatch: pytest.MonkeyPatch, poison: str
) -> None:
    path, entry = _prime(tmp_path, cache_home)
    key = entry.name
    good = cached_load(path).stack
    monkeypatch.chdir(tmp_path)
    if poison == "garbage":
        entry.write_bytes(b"\x00not a cache entry")
    elif poison == "truncated":
        entry.write_bytes(entry.read_bytes()[:-10])
    elif poison == "payload altered":  # the digest in the head no longer matches
        data = entry.read_bytes()
        entry.write_bytes(data.replace(b"busybox", b"evilbox"))
    elif poison == "a pickle calling code":  # the old format, or a planted one: never unpickled
        entry.write_bytes(_entry(key, pickle.dumps(Boom(), protocol=5)))
    elif poison == "a class off the list":
        tree = ["o", "os.system", [["t", ["touch planted-code-ran"]]], []]
        entry.write_bytes(_entry(key, json.dumps(tree).encode()))
    elif poison == "a class with other fields":
        tree = stack_cache._encode(good)
        tree[2].append(["l", []])
        entry.write_bytes(_entry(key, json.dumps(tree).encode()))
    elif poison == "another model":
        entry.write_bytes(_entry(key, json.dumps(stack_cache._encode(spec.StackMeta(name="other"))).encode()))
    elif poison == "a tag that is not one":
        entry.write_bytes(_entry(key, json.dumps(["x", "Stack", [], []]).encode()))
    elif poison == "a stack of another input":  # a valid entry of another stack, renamed to this key
        other = stack_file(tmp_path / "other", BODY.replace("busybox", "evilbox"))
        cached_load(other)
        (foreign,) = [e for e in entries(cache_home) if e.name != key]
        entry.write_bytes(foreign.read_bytes())
    before = len(validations)
    loaded = cached_load(path)
    assert len(validations) == before + 1, "a poisoned entry must not skip validation"
    assert loaded.stack == good
    assert not (tmp_path / "planted-code-ran").exists()
    assert cached_load(path).stack == good and len(validations) == before + 1  # rewritten, used again


def test_an_entry_others_can_write_or_a_link_is_ignored(
    tmp_path: Path, validations: list[int], cache_home: Path
) -> None:
    path, entry = _prime(tmp_path, cache_home)
    entry.chmod(0o666)
    cached_load(path)
    assert len(validations) == 2
    target = tmp_path / "elsewhere"
    shutil.copy(entry, target)
    entry.unlink()
    entry.symlink_to(target)
    cached_load(path)
    assert len(validations) == 3


def test_a_cache_folder_others_can_write_is_not_used(tmp_path: Path, validations: list[int], cache_home: Path) -> None:
    path, _ = _prime(tmp_path, cache_home)
    folder = cache_home / "hostform" / "stacks"
    folder.chmod(0o777)
    try:
        cached_load(path)
        cached_load(path)
        assert len(validations) == 3
    finally:
        folder.chmod(0o700)


def test_entries_and_the_folder_are_private(tmp_path: Path, cache_home: Path) -> None:
    _, entry = _prime(tmp_path, cache_home)
    assert entry.stat().st_mode & 0o777 == 0o600
    assert (cache_home / "hostform" / "stacks").stat().st_mode & 0o777 == 0o700


def test_old_entries_are_pruned(tmp_path: Path, cache_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stack_cache, "KEEP", 3)
    for i in range(5):
        cached_load(stack_file(tmp_path / f"s{i}"))
    assert len(entries(cache_home)) == 3


def test_the_environment_turns_it_off() -> None:
    assert stack_cache.enabled_by_env({})
    assert stack_cache.enabled_by_env({"HOSTFORM_NO_CACHE": "0"})
    assert not stack_cache.enabled_by_env({"HOSTFORM_NO_CACHE": "1"})
    assert not stack_cache.enabled_by_env({"HOSTFORM_NO_CACHE": "yes"})


def test_fields_of_is_model_dump_for_the_examples(monkeypatch: pytest.MonkeyPatch) -> None:
    """fields_of, of the pydantic models and of their plain twins, gives pydantic's model_dump."""
    models: list[schema.Stack] = []
    real = Stack.model_validate.__func__  # type: ignore[attr-defined]

    def keep(cls: Any, *args: Any, **kwargs: Any) -> Any:
        models.append(real(cls, *args, **kwargs))
        return models[-1]

    monkeypatch.setattr(Stack, "model_validate", classmethod(keep))
    examples = Path(__file__).resolve().parents[2] / "examples"
    found = sorted(examples.glob("*/hostform.toml"))
    assert found
    for stack in found:
        try:
            load(stack, environ={}, secrets_optional=True)
        except StackError:
            continue
    assert models
    for model in models:
        for service in model.services().values():
            plain = spec.plain_of(service)
            for exclude in (set(), {"env", "build"}):
                dumped = service.model_dump(mode="python", exclude=exclude)
                assert fields_of(service, exclude=exclude) == dumped
                assert fields_of(plain, exclude=exclude) == dumped


def test_the_entry_is_json_and_round_trips_the_plain_stack(tmp_path: Path, cache_home: Path) -> None:
    path, entry = _prime(tmp_path, cache_home)
    payload = entry.read_bytes().partition(b"\n\n")[2]
    stack = stack_cache.read(entry.name)
    assert type(stack) is spec.Stack and stack_cache._decode(json.loads(payload)) == stack
    assert stack.containers["web"].image == cached_load(path).stack.containers["web"].image == "busybox:1"
    assert type(stack.containers["web"].ports) is tuple and type(stack.containers["web"].ports[0]) is spec.PortMapping
    assert stack.containers["worker"].update.model_fields_set == {"order"}
    with pytest.raises(stack_cache._Unsafe):
        stack_cache._encode(spec.ContainerSpec(image="x", env={"TOKEN": Secret("hunter2")}))
