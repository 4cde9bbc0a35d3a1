"""Where secret('NAME') reads: the age file, a command, a file in the stack's folder, the
environment; in that order, two declared sources of one name refused, validate reading none."""

from __future__ import annotations

import os
import stat
import textwrap
from pathlib import Path

import pytest
from pyrage import encrypt, x25519

from hostform.declare.access import Access
from hostform.declare.age_file import AgeFileError, format_secrets, looks_encrypted, parse
from hostform.declare.errors import StackError
from hostform.declare.load import load
from hostform.declare.secrets import Secret, UnknownSecret, reveal

VALUE = "s3cr3t-value-7f1a"


# ---------------------------------------------------------------- the plaintext format


def test_parse_reads_names_values_comments_and_json_strings() -> None:
    text = '# comment\n\nA=plain value = with equals\nexport B=x\nC="two\\nlines "\nD=\n'
    assert parse(text, "f") == {"A": "plain value = with equals", "B": "x", "C": "two\nlines ", "D": ""}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (f"A=1\n{VALUE}\n", "f, line 2: not NAME=VALUE"),
        (f"1A={VALUE}\n", "f, line 1: not NAME=VALUE"),
        (f"A=1\nA={VALUE}\n", "f, line 2: A is set twice (also on line 1)"),
        (f'A="{VALUE}\n', "f, line 1: a value starting with '\"' must be one JSON string"),
    ],
)
def test_parse_errors_name_the_line_never_its_text(text: str, message: str) -> None:
    with pytest.raises(AgeFileError) as exc:
        parse(text, "f")
    assert str(exc.value).startswith(message)
    assert VALUE not in str(exc.value)


@pytest.mark.parametrize("value", ["plain", "", " spaced ", "multi\nline\n", '"quoted"', "a\u2028b", "tab\tx", "é"])
def test_format_reads_back(value: str) -> None:
    assert parse(format_secrets({"A": value, "B": "x"}), "f") == {"A": value, "B": "x"}


# ---------------------------------------------------------------- sources in a stack


@pytest.fixture
def identity(tmp_path: Path) -> x25519.Identity:
    return x25519.Identity.generate()


def _env(tmp_path: Path, identity: x25519.Identity, **more: str) -> dict[str, str]:
    key = tmp_path / "keys" / "identity.txt"
    key.parent.mkdir(exist_ok=True)
    key.write_text(f"# test key\n{identity}\n")
    return {"HOSTFORM_AGE_IDENTITY_FILE": str(key), "PATH": os.environ["PATH"], **more}


def _stack(tmp_path: Path, body: str, age: dict[str, str] | None = None, identity: object = None) -> Path:
    folder = tmp_path / "stack"
    folder.mkdir(exist_ok=True)
    if age is not None:
        assert isinstance(identity, x25519.Identity)
        (folder / "secrets.env.age").write_bytes(encrypt(format_secrets(age).encode(), [identity.to_public()]))
    path = folder / "hostform.toml"
    path.write_text('[stack]\nname = "t"\n' + textwrap.dedent(body))
    return path


AGE_STACK = """\
secrets_file = "secrets.env.age"

[containers.app]
image = "x"
env = { DB = "{{ secret('DB_PASSWORD') }}" }
secrets = ["API_TOKEN"]
"""


def test_the_age_file_gives_env_values_and_secret_files(tmp_path: Path, identity: x25519.Identity) -> None:
    path = _stack(tmp_path, AGE_STACK, {"DB_PASSWORD": VALUE, "API_TOKEN": "tok\nen"}, identity)
    loaded = load(path, environ=_env(tmp_path, identity))
    env = loaded.stack.containers["app"].env["DB"]
    assert isinstance(env, Secret) and env.reveal() == VALUE
    assert reveal(loaded.files["secret.API_TOKEN"].content) == "tok\nen"
    assert VALUE not in repr(loaded) and VALUE not in loaded.stack.model_dump_json()


def test_a_name_missing_everywhere_names_every_source_tried(tmp_path: Path, identity: x25519.Identity) -> None:
    path = _stack(tmp_path, AGE_STACK, {"DB_PASSWORD": VALUE}, identity)
    with pytest.raises(StackError) as exc:
        load(path, environ=_env(tmp_path, identity))
    (p,) = exc.value.problems
    assert p.key == "containers.app.secrets[0].source"
    assert p.message == (
        "secret 'API_TOKEN' is not set: not in secrets.env.age, no [secrets.API_TOKEN], "
        "nor API_TOKEN or API_TOKEN_FILE in the environment, or API_TOKEN in .env next to the stack file "
        "(the sources tried, in order)"
    )


def test_the_age_file_wins_over_the_environment(tmp_path: Path, identity: x25519.Identity) -> None:
    path = _stack(tmp_path, AGE_STACK, {"DB_PASSWORD": VALUE, "API_TOKEN": "t"}, identity)
    loaded = load(path, environ=_env(tmp_path, identity, DB_PASSWORD="from-env"))
    assert reveal(loaded.stack.containers["app"].env["DB"]) == VALUE


def test_two_declared_sources_of_one_name_are_an_error_naming_both(tmp_path: Path, identity: x25519.Identity) -> None:
    (tmp_path / "stack").mkdir()
    (tmp_path / "stack" / "pw.txt").write_text("other\n")
    body = AGE_STACK + '\n[secrets.DB_PASSWORD]\nfile = "pw.txt"\n'
    path = _stack(tmp_path, body, {"DB_PASSWORD": VALUE, "API_TOKEN": "t"}, identity)
    with pytest.raises(StackError) as exc:
        load(path, environ=_env(tmp_path, identity))
    (p,) = exc.value.problems
    assert p.message == (
        "secret 'DB_PASSWORD' is given twice: by secrets.env.age and by [secrets.DB_PASSWORD] file (keep one)"
    )
    assert VALUE not in str(exc.value)


def test_command_and_file_in_one_table_are_an_error(tmp_path: Path) -> None:
    path = _stack(tmp_path, '[secrets.X]\ncommand = ["true"]\nfile = "x"\n')
    with pytest.raises(StackError) as exc:
        load(path, environ={}, read_secrets=False)
    (p,) = exc.value.problems
    assert (p.key, p.message) == ("secrets.X", "the secret is given by both 'command' and 'file': keep one")


def test_a_wrong_identity_or_none_is_one_clear_error(tmp_path: Path, identity: x25519.Identity) -> None:
    path = _stack(tmp_path, AGE_STACK, {"DB_PASSWORD": VALUE, "API_TOKEN": "t"}, identity)
    with pytest.raises(StackError) as exc:
        load(path, environ=_env(tmp_path, x25519.Identity.generate()))
    assert "secrets.env.age: cannot decrypt: no identity given matches its recipients" in str(exc.value)
    with pytest.raises(StackError) as exc:
        load(path, environ={"HOSTFORM_AGE_IDENTITY_FILE": str(tmp_path / "none.txt")})
    assert "cannot decrypt secrets.env.age: no usable age identity file" in str(exc.value)
    assert "HOSTFORM_AGE_IDENTITY_FILE" in str(exc.value)


def test_drift_without_the_identity_stands_for_what_was_applied(tmp_path: Path, identity: x25519.Identity) -> None:
    path = _stack(tmp_path, AGE_STACK, {"DB_PASSWORD": VALUE, "API_TOKEN": "t"}, identity)
    loaded = load(path, environ={"HOSTFORM_AGE_IDENTITY_FILE": str(tmp_path / "no")}, secrets_optional=True)
    assert isinstance(loaded.stack.containers["app"].env["DB"], UnknownSecret)
    assert loaded.unset_secrets == ("API_TOKEN", "DB_PASSWORD")


def test_the_identity_defaults_to_the_users_config_folder(tmp_path: Path, identity: x25519.Identity) -> None:
    config = tmp_path / "config"
    (config / "hostform" / "age").mkdir(parents=True)
    (config / "hostform" / "age" / "identity.txt").write_text(f"{identity}\n")
    path = _stack(tmp_path, AGE_STACK, {"DB_PASSWORD": VALUE, "API_TOKEN": "t"}, identity)
    loaded = load(path, environ={"XDG_CONFIG_HOME": str(config)})
    assert reveal(loaded.stack.containers["app"].env["DB"]) == VALUE


SCRIPT = """\
#!/bin/sh
echo "$@" > args.txt
env > env.txt
echo "oops {value}" >&2
[ "$1" = fail ] && exit 3
[ "$1" = slow ] && sleep 30
printf '%s\\n' '{value}'
"""


def _script_stack(tmp_path: Path, arg: str, timeout: str = "10s") -> Path:
    path = _stack(
        tmp_path,
        f'''\
    [secrets.TOKEN]
    command = ["./get-secret", "{arg}"]
    timeout = "{timeout}"

    [containers.app]
    image = "x"
    env = {{ T = "{{{{ secret('TOKEN') }}}}" }}
    ''',
    )
    script = path.parent / "get-secret"
    script.write_text(SCRIPT.format(value=VALUE))
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return path


def test_a_command_source_reads_its_output_in_a_clean_environment(tmp_path: Path) -> None:
    path = _script_stack(tmp_path, "ok")
    environ = {"PATH": os.environ["PATH"], "HOME": "/h", "LEAK": "no", "OP_X": "yes"}
    environ["HOSTFORM_SECRET_COMMAND_ENV"] = "OP_X"
    loaded = load(path, environ=environ)
    assert reveal(loaded.stack.containers["app"].env["T"]) == VALUE  # one trailing newline dropped
    seen = dict(line.split("=", 1) for line in (path.parent / "env.txt").read_text().splitlines() if "=" in line)
    assert seen.get("OP_X") == "yes" and seen.get("HOME") == "/h" and "LEAK" not in seen
    assert (path.parent / "args.txt").read_text() == "ok\n"


def test_a_failing_command_never_shows_its_error_output(tmp_path: Path) -> None:
    with pytest.raises(StackError) as exc:
        load(_script_stack(tmp_path, "fail"), environ={"PATH": os.environ["PATH"]})
    (p,) = exc.value.problems
    assert "secret 'TOKEN': [secrets.TOKEN] command: './get-secret' exited with status 3" in p.message
    assert VALUE not in str(exc.value) and "oops" not in str(exc.value)


def test_a_command_that_hangs_is_stopped(tmp_path: Path) -> None:
    with pytest.raises(StackError) as exc:
        load(_script_stack(tmp_path, "slow", "1s"), environ={"PATH": os.environ["PATH"]})
    assert "'./get-secret' did not finish within 1 s" in str(exc.value)


def test_a_command_source_is_refused_under_untrusted_before_it_runs(tmp_path: Path) -> None:
    path = _script_stack(tmp_path, "ok")
    for read in (True, False):
        with pytest.raises(StackError) as exc:
            load(path, environ={"PATH": os.environ["PATH"]}, access=Access(untrusted=True), read_secrets=read)
        (p,) = exc.value.problems
        assert p.key == "secrets.TOKEN.command" and "refused under --untrusted" in p.message
    assert not (path.parent / "args.txt").exists()


def test_a_file_source_is_read_inside_the_stack_folder(tmp_path: Path) -> None:
    body = """\
    [secrets.PW]
    file = "db/password.txt"

    [containers.app]
    image = "x"
    secrets = ["PW"]
    """
    path = _stack(tmp_path, body)
    (path.parent / "db").mkdir()
    (path.parent / "db" / "password.txt").write_text(VALUE + "\n")
    loaded = load(path, environ={})
    assert reveal(loaded.files["secret.PW"].content) == VALUE
    path.write_text(path.read_text().replace("db/password.txt", "../outside.txt"))
    (tmp_path / "outside.txt").write_text(VALUE)
    with pytest.raises(StackError) as exc:
        load(path, environ={})
    assert "is outside the stack's folder" in str(exc.value) and VALUE not in str(exc.value)


def test_validate_reads_no_value_but_checks_the_declared_sources(tmp_path: Path, identity: x25519.Identity) -> None:
    body = AGE_STACK + '\n[secrets.OTHER]\nfile = "missing.txt"\n[secrets.CMD]\ncommand = ["false"]\n'
    path = _stack(tmp_path, body, {"DB_PASSWORD": VALUE}, identity)
    with pytest.raises(StackError) as exc:
        load(path, environ={}, read_secrets=False)
    (p,) = exc.value.problems
    assert p.key == "secrets.OTHER.file" and "No such file or directory" in p.message
    (path.parent / "missing.txt").write_text("x")
    loaded = load(path, environ={}, read_secrets=False)  # no identity, no variable, no command run
    assert isinstance(loaded.stack.containers["app"].env["DB"], UnknownSecret)
    (path.parent / "secrets.env.age").write_text("DB_PASSWORD=plain\n")
    with pytest.raises(StackError) as exc:
        load(path, environ={}, read_secrets=False)
    assert exc.value.problems[0].key == "stack.secrets_file"
    assert "is not an age-encrypted file" in exc.value.problems[0].message


def test_looks_encrypted() -> None:
    assert looks_encrypted(b"age-encryption.org/v1\n-> X25519 ...")
    assert looks_encrypted(b"-----BEGIN AGE ENCRYPTED FILE-----\n")
    assert not looks_encrypted(b"A=1\n")


def test_the_stack_cache_never_holds_a_value(
    tmp_path: Path, identity: x25519.Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = _stack(tmp_path, AGE_STACK, {"DB_PASSWORD": VALUE, "API_TOKEN": "tok-" + VALUE}, identity)
    load(path, environ=_env(tmp_path, identity), cache=True)
    load(path, environ=_env(tmp_path, identity), cache=True)
    for file in (tmp_path / "cache").rglob("*"):
        if file.is_file():
            assert VALUE.encode() not in file.read_bytes()


def test_a_value_hashes_the_same_whatever_its_source(tmp_path: Path, identity: x25519.Identity) -> None:
    """Moving a secret from the environment into the age file or a file source changes no spec."""
    from hostform.declare.canonical import canonical_json, service_spec

    app = '[containers.app]\nimage = "x"\nenv = { DB = "{{ secret(\'PW\') }}" }\nsecrets = ["PW"]\n'
    specs = []
    for kind in ("env", "age", "file"):
        (tmp_path / kind).mkdir()
        head = {"env": "", "age": 'secrets_file = "secrets.env.age"\n', "file": ""}[kind]
        tail = '[secrets.PW]\nfile = "pw.txt"\n' if kind == "file" else ""
        path = _stack(tmp_path / kind, head + app + tail, {"PW": VALUE} if kind == "age" else None, identity)
        (path.parent / "pw.txt").write_text(VALUE + "\n")
        environ = _env(tmp_path, identity, **({"PW": VALUE} if kind == "env" else {}))
        text = canonical_json(service_spec(load(path, environ=environ), "app", key=b"k" * 32))
        assert VALUE not in text and "hmac-sha256:" in text
        specs.append(text)
    assert specs[0] == specs[1] == specs[2]
