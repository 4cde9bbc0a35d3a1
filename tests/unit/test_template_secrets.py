"""Templates in a sandbox, and secrets that never show themselves."""

from __future__ import annotations

import json
import logging
import pickle
import textwrap
from pathlib import Path

import pytest

from hostform.declare.canonical import canonical_json, file_digest, service_spec
from hostform.declare.errors import StackError
from hostform.declare.load import LoadedStack, load
from hostform.declare.secrets import MASK, Secret, SecretUnreadable, read_secret, reveal
from hostform.declare.template import Renderer, RenderError

PASSWORD = "hunter2-very-secret"


# ---------------------------------------------------------------- the renderer


def test_plain_strings_are_returned_as_they_are() -> None:
    assert Renderer({}).render("no templates here") == "no templates here"


def test_vars_env_and_filters() -> None:
    r = Renderer({"name": "web", "ports": [80, 443]}, {"HOME_DIR": "/home/x"}, frozenset({"HOME_DIR", "NOPE"}))
    assert r.render("{{ vars.name | upper }}") == "WEB"
    assert r.render("{{ vars.ports | join(',') }}") == "80,443"
    assert r.render("{{ env('HOME_DIR') }}/data") == "/home/x/data"
    assert r.render("{{ env('NOPE', default='d') }}") == "d"


def test_env_without_default_must_be_set() -> None:
    with pytest.raises(RenderError, match=r"environment variable 'NOPE' is not set"):
        Renderer({}, {}, frozenset({"NOPE"})).render("{{ env('NOPE') }}")


def test_undefined_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(RenderError, match="undefined variable"):
        Renderer({}, {}).render("x{{ vars.missing }}y")
    with pytest.raises(RenderError, match="undefined variable"):
        Renderer({}, {}).render("{{ missing }}")


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ vars.__class__.__init__.__globals__ }}",
        "{{ env.__globals__['os'] }}",
        "{{ [].pop.__self__ }}",
        "{% for x in range(10**9) %}{% endfor %}",  # range too big in a sandbox
    ],
)
def test_sandbox_violations_raise_render_errors(source: str) -> None:
    with pytest.raises(RenderError) as exc:
        Renderer({}, {}).render(source)
    assert "Traceback" not in str(exc.value)


def test_sandbox_error_message() -> None:
    with pytest.raises(RenderError, match=r"^not allowed in a template: access to attribute '__class__'"):
        Renderer({}, {}).render("{{ ''.__class__.__mro__ }}")


def test_syntax_errors_in_strings_and_files() -> None:
    r = Renderer({}, {})
    with pytest.raises(RenderError, match="template syntax error"):
        r.render("{{ unclosed ")
    with pytest.raises(RenderError, match="template syntax error"):
        r.render_file_template("{% if %}", "conf")


def test_file_templates_know_their_name_and_keep_newlines() -> None:
    r = Renderer({"port": 80}, {})
    assert r.render_file_template("{{ name }}:{{ vars.port }}\n", "site") == "site:80\n"


# ---------------------------------------------------------------- secret values


def test_secret_masks_itself_in_every_printable_form() -> None:
    s = Secret(PASSWORD, ("DB_PASSWORD",))
    forms = [
        str(s),
        repr(s),
        f"{s}",
        f"{s!s}",
        f"{s!r}",
        f"{s:>30}",
        "%s" % s,  # noqa: UP031 (the old spellings must mask too)
        "{}".format(s),  # noqa: UP032
        str([s]),
        str({"k": s}),
        repr((s,)),
    ]
    for form in forms:
        assert PASSWORD not in form
        assert MASK in form
    assert s.reveal() == PASSWORD
    assert reveal(s) == PASSWORD and reveal("plain") == "plain"
    assert s.names == ("DB_PASSWORD",)


def test_secret_is_not_json_serialisable_by_accident() -> None:
    with pytest.raises(TypeError):
        json.dumps({"p": Secret(PASSWORD)})


def test_secret_cannot_be_pickled() -> None:
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(Secret(PASSWORD))


def test_secret_in_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("env is %s and %r", Secret(PASSWORD), {"P": Secret(PASSWORD)})
    assert PASSWORD not in caplog.text


def test_secret_equality_and_digest() -> None:
    a, b, c = Secret("x"), Secret("x"), Secret("y")
    assert a == b and a != c and hash(a) == hash(b)
    assert a != "x"  # never equal to its plain value, which would leak it by comparison
    key = b"k" * 32
    assert a.digest(key) == b.digest(key) != c.digest(key)
    assert a.digest(key) != a.digest(b"other-key")
    assert a.digest(key).startswith("hmac-sha256:") and "x" not in a.digest(key).split(":")[1][:0]


def test_read_secret_from_env_or_file(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text(PASSWORD + "\n")
    assert read_secret("PW", {"PW": "direct"}) == "direct"
    assert read_secret("PW", {"PW_FILE": str(f)}) == PASSWORD  # trailing newline dropped
    assert read_secret("PW", {"PW_FILE": ""}) is None  # an empty PW_FILE is not set
    assert read_secret("PW", {"PW": "direct", "PW_FILE": ""}) == "direct"
    assert read_secret("PW", {}) is None


def test_read_secret_refuses_both_spellings(tmp_path: Path) -> None:
    f = tmp_path / "pw"
    f.write_text(PASSWORD)
    with pytest.raises(SecretUnreadable) as exc:
        read_secret("PW", {"PW": "direct", "PW_FILE": str(f)})
    assert str(exc.value) == "secret 'PW': both PW and PW_FILE are set (set only one)"


def _unreadable_cases(tmp_path: Path) -> list[tuple[str, str]]:
    (tmp_path / "latin1").write_bytes(b"caf\xe9-" + PASSWORD.encode())
    return [
        (str(tmp_path / "missing"), "No such file or directory"),
        (str(tmp_path), "Is a directory"),
        (str(tmp_path / "latin1"), "not UTF-8 text"),
        ("a\x00b", "the path holds a NUL character"),
    ]


def test_read_secret_says_why_its_file_cannot_be_read(tmp_path: Path) -> None:
    for path, why in _unreadable_cases(tmp_path):
        with pytest.raises(SecretUnreadable) as exc:
            read_secret("PW", {"PW_FILE": path})
        shown = path if path.isprintable() else json.dumps(path)
        assert str(exc.value) == f"secret 'PW': PW_FILE={shown} cannot be read: {why}"
        assert PASSWORD not in str(exc.value) and "xe9" not in str(exc.value)


def test_read_secret_without_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kw: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("builtins.open", refuse)
    with pytest.raises(SecretUnreadable) as exc:
        read_secret("PW", {"PW_FILE": "/run/secrets/pw"})
    assert str(exc.value) == "secret 'PW': PW_FILE=/run/secrets/pw cannot be read: Permission denied"


def test_renderer_marks_values_that_used_a_secret() -> None:
    r = Renderer({}, {"PW": PASSWORD})
    out = r.render("postgres://app:{{ secret('PW') }}@db/app")
    assert isinstance(out, Secret)
    assert out.reveal() == f"postgres://app:{PASSWORD}@db/app"
    assert out.names == ("PW",)
    assert r.render("{{ vars | length }}") == "0"  # the next value is not secret


def test_missing_secret_names_itself() -> None:
    with pytest.raises(
        RenderError,
        match=r"secret 'PW' is not set \(set PW or PW_FILE in the environment, or PW in .env next to the stack file\)",
    ):
        Renderer({}, {}).render("{{ secret('PW') }}")


# ---------------------------------------------------------------- secrets in a stack


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "hostform.toml"
    path.write_text('[stack]\nname = "t"\n' + textwrap.dedent(body))
    return path


SECRET_STACK = """\
[files.creds]
content = "password={{ secret('DB_PASSWORD') }}"

[files.tpl]
template = "creds.j2"

[containers.db]
image = "x"
env = { POSTGRES_PASSWORD = "{{ secret('DB_PASSWORD') }}", PLAIN = "visible" }
files = [{ source = "creds", target = "/run/creds" }]

[jobs.migrate]
image = "x"
env = ["URL=postgres://app:{{ secret('DB_PASSWORD') }}@db/app"]
"""


@pytest.fixture
def secret_stack(tmp_path: Path) -> LoadedStack:
    (tmp_path / "creds.j2").write_text("pw={{ secret('DB_PASSWORD') }}\n")
    return load(write(tmp_path, SECRET_STACK), environ={"DB_PASSWORD": PASSWORD})


def test_secrets_reach_env_and_files_revealable(secret_stack: LoadedStack) -> None:
    db = secret_stack.stack.containers["db"]
    assert isinstance(db.env["POSTGRES_PASSWORD"], Secret)
    assert db.env["POSTGRES_PASSWORD"].reveal() == PASSWORD
    assert db.env["PLAIN"] == "visible"
    url = secret_stack.stack.jobs["migrate"].env["URL"]
    assert isinstance(url, Secret) and url.reveal() == f"postgres://app:{PASSWORD}@db/app"
    assert secret_stack.files["creds"].is_secret
    assert reveal(secret_stack.files["creds"].content) == f"password={PASSWORD}"
    assert reveal(secret_stack.files["tpl"].content) == f"pw={PASSWORD}\n"


def test_secrets_are_masked_in_every_dump_of_the_stack(secret_stack: LoadedStack) -> None:
    stack = secret_stack.stack
    dumps = [
        str(stack),
        repr(stack),
        stack.model_dump_json(),
        json.dumps(stack.model_dump(mode="json")),
        str(stack.model_dump()),
        repr(secret_stack),
        str(secret_stack.files),
        stack.containers["db"].model_dump_json(),
        str(stack.containers["db"].env),
    ]
    for text in dumps:
        assert PASSWORD not in text
    assert MASK in stack.model_dump_json()
    assert stack.model_dump(mode="json")["containers"]["db"]["env"]["POSTGRES_PASSWORD"] == MASK


def test_canonical_spec_carries_a_keyed_hash_only(secret_stack: LoadedStack) -> None:
    spec = service_spec(secret_stack, "db", key=b"k" * 32)
    text = canonical_json(spec)
    assert PASSWORD not in text
    assert spec["env"]["POSTGRES_PASSWORD"]["secret"].startswith("hmac-sha256:")
    assert spec["env"]["PLAIN"] == "visible"
    # the file digest is keyed too: a short secret file cannot be guessed back from a plain hash
    assert spec["files"][0]["sha256"] != secret_stack.files["creds"].sha256
    assert spec["files"][0]["sha256"] == file_digest(secret_stack.files["creds"].content, b"k" * 32)
    rotated = load(secret_stack.path, environ={"DB_PASSWORD": "rotated"})
    assert service_spec(rotated, "db", key=b"k" * 32) != spec  # a rotation changes the spec


def test_secret_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(PASSWORD)
    body = '[containers.db]\nimage = "x"\nenv = { P = "{{ secret(\'DB_PASSWORD\') }}" }\n'
    loaded = load(write(tmp_path, body), environ={"DB_PASSWORD_FILE": str(tmp_path / "pw")})
    assert reveal(loaded.stack.containers["db"].env["P"]) == PASSWORD


def test_missing_secret_is_an_error_naming_it(tmp_path: Path) -> None:
    body = '[containers.db]\nimage = "x"\nenv = { P = "{{ secret(\'DB_PASSWORD\') }}" }\n'
    with pytest.raises(StackError) as exc:
        load(write(tmp_path, body), environ={})
    (p,) = exc.value.problems
    assert (p.key, p.line) == ("containers.db.env.P", 5)
    assert "secret 'DB_PASSWORD' is not set (set DB_PASSWORD or DB_PASSWORD_FILE" in p.message


def test_an_unreadable_secret_file_is_an_error_saying_why(tmp_path: Path) -> None:
    body = '[containers.db]\nimage = "x"\nenv = { P = "{{ secret(\'DB_PASSWORD\') }}" }\n'
    for path, why in _unreadable_cases(tmp_path):
        with pytest.raises(StackError) as exc:
            load(write(tmp_path, body), environ={"DB_PASSWORD_FILE": path})
        (p,) = exc.value.problems
        assert (p.key, p.line) == ("containers.db.env.P", 5)
        assert f"DB_PASSWORD_FILE={path if path.isprintable() else json.dumps(path)} cannot be read: {why}" in (
            p.message
        )
        assert "is not set" not in p.message and PASSWORD not in str(exc.value)


def test_a_secret_set_both_ways_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text(PASSWORD)
    body = '[containers.db]\nimage = "x"\nenv = { P = "{{ secret(\'DB_PASSWORD\') }}" }\n'
    environ = {"DB_PASSWORD": "other-" + PASSWORD, "DB_PASSWORD_FILE": str(tmp_path / "pw")}
    with pytest.raises(StackError) as exc:
        load(write(tmp_path, body), environ=environ)
    (p,) = exc.value.problems
    assert (p.key, p.line) == ("containers.db.env.P", 5)
    assert p.message == "secret 'DB_PASSWORD': both DB_PASSWORD and DB_PASSWORD_FILE are set (set only one)"
    assert PASSWORD not in str(exc.value)


def test_missing_secret_in_a_template_file(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("{{ secret('DB_PASSWORD') }}")
    with pytest.raises(StackError) as exc:
        load(write(tmp_path, '[files.f]\ntemplate = "t.j2"\n'), environ={})
    assert "secret 'DB_PASSWORD' is not set" in exc.value.problems[0].message


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('[containers.web]\nimage = "x"\nlabels = { p = "{{ secret(\'PW\') }}" }\n', "containers.web.labels.p"),
        ('[containers.web]\nimage = "x"\ncommand = ["echo", "{{ secret(\'PW\') }}"]\n', "containers.web.command[1]"),
        ("[containers.web]\nimage = \"app:{{ secret('PW') }}\"\n", "containers.web.image"),
        ('[containers.web]\nimage = "x"\nhostname = "{{ secret(\'PW\') }}"\n', "containers.web.hostname"),
        ('[jobs.m]\nimage = "x"\nentrypoint = "{{ secret(\'PW\') }}"\n', "jobs.m.entrypoint"),
        ("[files.f]\nsource = \"{{ secret('PW') }}\"\n", "files.f.source"),
        ("[volumes.v]\nlabels = { a = \"{{ secret('PW') }}\" }\n", "volumes.v.labels.a"),
        ('[containers.web]\nimage = "x"\nenv = { "{{ secret(\'PW\') }}" = { a = 1 } }\n', None),
    ],
)
def test_secret_outside_env_and_file_content_is_refused(tmp_path: Path, body: str, key: str | None) -> None:
    with pytest.raises(StackError) as exc:
        load(write(tmp_path, body), environ={"PW": PASSWORD})
    text = "\n".join(exc.value.lines())
    assert PASSWORD not in text
    if key is not None:
        (p,) = exc.value.problems
        assert p.key == key
        assert p.message.startswith("secret() may only be used in env values and file content")


@pytest.mark.parametrize(
    "entry",
    [
        "{{ secret('PW') }}",  # no KEY= part: the whole entry would be the name
        "{{ secret('PW') }}=x",  # the secret as the variable's name
        "A{{ secret('PW') }}=x",
    ],
)
def test_a_secret_in_an_env_entry_name_is_refused(tmp_path: Path, entry: str) -> None:
    body = f'[containers.web]\nimage = "x"\nenv = ["{entry}"]\n'
    with pytest.raises(StackError) as exc:
        load(write(tmp_path, body), environ={"PW": PASSWORD})
    assert PASSWORD not in str(exc.value)
    (p,) = exc.value.problems
    assert p.key == "containers.web.env[0]"
    assert p.message.startswith("secret() may only be used after the '=' of an env entry")


def test_a_secret_after_the_equals_sign_of_an_env_entry(tmp_path: Path) -> None:
    body = """\
    [vars]
    k = "B"
    [containers.web]
    image = "x"
    env = ["A={{ secret('PW') }}", "{{ vars.k }}=x:{{ secret('PW') }}"]
    """
    env = load(write(tmp_path, body), environ={"PW": PASSWORD}).stack.containers["web"].env
    assert set(env) == {"A", "B"}
    assert [reveal(v) for v in env.values()] == [PASSWORD, f"x:{PASSWORD}"]
    assert all(isinstance(v, Secret) for v in env.values())
