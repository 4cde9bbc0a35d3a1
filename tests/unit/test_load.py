"""Loading a stack file: TOML, variables, env files, resolution, and located errors."""

from __future__ import annotations

import hashlib
import hmac
import json
import textwrap
from pathlib import Path

import pytest

from hostform.declare.canonical import file_digest, service_spec
from hostform.declare.errors import Problem, StackError
from hostform.declare.load import LoadedStack, find_stack_file, load
from hostform.declare.secrets import reveal

HEAD = '[stack]\nname = "t"\n'


def write(tmp_path: Path, body: str, head: str = HEAD, name: str = "hostform.toml") -> Path:
    path = tmp_path / name
    path.write_text(head + textwrap.dedent(body), encoding="utf-8")
    return path


def load_ok(tmp_path: Path, body: str, **kw: object) -> LoadedStack:
    kw.setdefault("environ", {})
    return load(write(tmp_path, body), **kw)  # type: ignore[arg-type]


def problems(tmp_path: Path, body: str, head: str = HEAD, **kw: object) -> list[Problem]:
    kw.setdefault("environ", {})
    with pytest.raises(StackError) as exc:
        load(write(tmp_path, body, head), **kw)  # type: ignore[arg-type]
    return exc.value.problems


def only(tmp_path: Path, body: str, head: str = HEAD, **kw: object) -> Problem:
    found = problems(tmp_path, body, head, **kw)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- finding the file


def test_a_folder_means_its_hostform_toml(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    assert find_stack_file(tmp_path) == path
    assert load(tmp_path, environ={}).path == path
    assert load(path, environ={}).name == "t"


def test_missing_stack_file(tmp_path: Path) -> None:
    with pytest.raises(StackError) as exc:
        load(tmp_path / "nope.toml", environ={})
    assert "no such stack file" in str(exc.value)
    with pytest.raises(StackError, match="no such stack file"):
        load(tmp_path, environ={})  # a folder without hostform.toml


def test_unreadable_stack_file(tmp_path: Path) -> None:
    path = tmp_path / "hostform.toml"
    path.write_bytes(b"\xff\xfe[stack]\n")
    with pytest.raises(StackError, match="cannot read"):
        load(path, environ={})


def test_toml_syntax_error_has_a_line(tmp_path: Path) -> None:
    p = only(tmp_path, '[containers.web\nimage = "x"\n')
    assert p.line == 3
    assert p.message.startswith("invalid TOML: ")
    assert "line" not in p.message  # moved into Problem.line
    assert str(p).startswith(f"{tmp_path / 'hostform.toml'}:3: invalid TOML")


def test_missing_stack_table(tmp_path: Path) -> None:
    p = only(tmp_path, '[containers.web]\nimage = "x"\n', head="")
    assert (p.key, p.message) == ("stack", "is required")


# ---------------------------------------------------------------- unknown keys and wrong types


@pytest.mark.parametrize(
    ("body", "key", "message", "line"),
    [
        (
            '[containers.web]\nimgae = "x"\nimage = "x"\n',
            "containers.web.imgae",
            "unknown key 'imgae' in containers.web; did you mean 'image'?",
            4,
        ),
        (
            '[contaners.web]\nimage = "x"\n',
            "contaners",
            "unknown key 'contaners' in the stack file; did you mean 'containers'?",
            3,
        ),
        (
            '[containers.web]\nimage = "x"\nhealthcheck = { tset = "true" }\n',
            "containers.web.healthcheck.tset",
            "unknown key 'tset' in containers.web.healthcheck; did you mean 'test'?",
            5,
        ),
        (
            '[volumes.data]\ndriverr = "local"\n',
            "volumes.data.driverr",
            "unknown key 'driverr' in volumes.data; did you mean 'driver'?",
            4,
        ),
        (
            "[networks.back]\ninternl = true\n",
            "networks.back.internl",
            "unknown key 'internl' in networks.back; did you mean 'internal'?",
            4,
        ),
        (
            '[files.conf]\ncontnet = "x"\n',
            "files.conf.contnet",
            "unknown key 'contnet' in files.conf; did you mean 'content'?",
            4,
        ),
        (
            '[jobs.migrate]\nimage = "x"\ncomand = "true"\n',
            "jobs.migrate.comand",
            "unknown key 'comand' in jobs.migrate; did you mean 'command'?",
            5,
        ),
        (
            '[containers.web]\nimage = "x"\nupdate = { oder = "start-first" }\n',
            "containers.web.update.oder",
            "unknown key 'oder' in containers.web.update; did you mean 'order'?",
            5,
        ),
        ('[containers.web]\nimage = "x"\nzzzz = 1\n', "containers.web.zzzz", "unknown key 'zzzz' in containers.web", 5),
    ],
)
def test_unknown_keys_with_suggestion(tmp_path: Path, body: str, key: str, message: str, line: int) -> None:
    p = only(tmp_path, body)
    assert (p.key, p.message, p.line) == (key, message, line)


def test_unknown_key_without_close_match_has_no_suggestion(tmp_path: Path) -> None:
    p = only(tmp_path, '[containers.web]\nimage = "x"\nzzzz = 1\n')
    assert "did you mean" not in p.message


def test_bad_port_names_its_path(tmp_path: Path) -> None:
    p = only(tmp_path, '[containers.web]\nimage = "x"\nports = ["8080:80", "80:80:80"]\n')
    assert str(p) == (
        f"{tmp_path / 'hostform.toml'}:5: containers.web.ports[1]: '80:80:80' is not a port mapping "
        "(expected [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTO])"
    )


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        ('replicas = "two"', "containers.web.replicas", "valid integer"),
        ('ports = "80:80"', "containers.web.ports", "must be a list (got '80:80')"),
        ("image = 3", "containers.web.image", "valid string"),
        ("read_only = 'maybe'", "containers.web.read_only", "valid boolean"),
        ("healthcheck = 'true'", "containers.web.healthcheck", "must be a table (got 'true')"),
        ("env = { A = { b = 1 } }", "containers.web.env.A", "valid string"),
        ("cap_add = 'NET_ADMIN'", "containers.web.cap_add", "must be a list"),
        ("memory = [1]", "containers.web.memory", "[1] is not a size"),
        ("stop_grace_period = { s = 1 }", "containers.web.stop_grace_period", "is not a duration"),
        ("restart = 'sometimes'", "containers.web.restart", "'sometimes' is not a restart policy"),
    ],
)
def test_wrong_types_name_the_path(tmp_path: Path, body: str, key: str, fragment: str) -> None:
    found = problems(tmp_path, f'[containers.web]\nimage = "x"\n{body}\n'.replace('image = "x"\nimage', "image"))
    assert [p.key for p in found] == [key], found
    assert fragment in found[0].message
    assert found[0].line is not None


def test_whole_tables_of_the_wrong_type(tmp_path: Path) -> None:
    p = only(tmp_path, 'containers = "web"\n[stack]\nname = "t"\n', head="")
    assert (p.key, p.message, p.line) == ("containers", "must be a table (got 'web')", 1)


def test_every_problem_is_reported_sorted_by_line(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        [containers.web]
        image = "x"
        restart = "sometimes"
        replicas = -1

        [containers.api]
        imgae = "x"
        """,
    )
    assert [p.line for p in found] == sorted(p.line or 0 for p in found)
    assert {p.key for p in found} >= {"containers.web.restart", "containers.web.replicas", "containers.api.imgae"}


def test_semantic_problems_are_collected_together(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        """\
        [containers.web]
        image = "x"
        volumes = ["data:/d"]
        depends_on = ["nope"]
        """,
    )
    assert [p.key for p in found] == ["containers.web.volumes[0]", "containers.web.depends_on.nope"]
    assert [p.line for p in found] == [5, 6]


# ---------------------------------------------------------------- variables


def test_vars_render_into_strings(tmp_path: Path) -> None:
    loaded = load_ok(
        tmp_path,
        """\
        [vars]
        tag = "1.2"
        port = 8080
        names = ["a", "b"]
        [containers.web]
        image = "app:{{ vars.tag }}"
        ports = ["{{ vars.port }}:80"]
        command = ["echo", "{{ vars.names | join(',') }}"]
        """,
    )
    web = loaded.stack.containers["web"]
    assert web.image == "app:1.2"
    assert web.ports[0].host_port == 8080
    assert web.command == ("echo", "a,b")
    assert loaded.stack.vars == {"tag": "1.2", "port": 8080, "names": ["a", "b"]}


def test_rendered_numbers_validate_as_numbers(tmp_path: Path) -> None:
    loaded = load_ok(
        tmp_path,
        """\
        [vars]
        n = 3
        grace = 20
        [containers.worker]
        image = "x"
        replicas = "{{ vars.n }}"
        stop_grace_period = "{{ vars.grace }}"
        """,
    )
    worker = loaded.stack.containers["worker"]
    assert (worker.replicas, worker.stop_grace_period) == (3, 20 * 10**9)


def test_var_file_then_var_flags_later_wins(tmp_path: Path) -> None:
    stack = write(
        tmp_path, '[vars]\ntag = "file"\nother = "kept"\n[containers.web]\nimage = "{{ vars.tag }}-{{ vars.other }}"\n'
    )
    one = tmp_path / "one.toml"
    one.write_text('tag = "one"\n')
    two = tmp_path / "two.toml"
    two.write_text('tag = "two"\n')

    def image(**kw: object) -> str:
        return load(stack, environ={}, **kw).stack.containers["web"].image  # type: ignore[arg-type]

    assert image() == "file-kept"
    assert image(var_files=[one]) == "one-kept"
    assert image(var_files=[one, two]) == "two-kept"
    assert image(var_files=[two, one]) == "one-kept"
    assert image(var_files=[one], var_overrides=["tag=flag"]) == "flag-kept"
    assert image(var_overrides=["tag=a", "tag=b"]) == "b-kept"
    assert image(var_overrides=["tag=a=b"]) == "a=b-kept"


def test_var_file_problems(tmp_path: Path) -> None:
    stack = write(tmp_path, "")
    with pytest.raises(StackError) as exc:
        load(stack, var_files=[tmp_path / "missing.toml"], environ={})
    assert exc.value.problems[0].file == str(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("tag = \n")
    with pytest.raises(StackError, match="cannot read var file"):
        load(stack, var_files=[bad], environ={})


@pytest.mark.parametrize("flag", ["novalue", "=x"])
def test_var_flag_needs_key_and_value(tmp_path: Path, flag: str) -> None:
    with pytest.raises(StackError, match="is not key=value"):
        load(write(tmp_path, ""), var_overrides=[flag], environ={})


def test_vars_must_be_a_table(tmp_path: Path) -> None:
    p = only(tmp_path, "", head='vars = 3\n[stack]\nname = "t"\n')
    assert (p.key, p.message) == ("vars", "must be a table")


def test_vars_themselves_are_not_rendered(tmp_path: Path) -> None:
    loaded = load_ok(tmp_path, '[vars]\nraw = "{ not a template } %}"\n')
    assert loaded.stack.vars["raw"] == "{ not a template } %}"


VARS_ARE_NOT_TEMPLATES = "variables are plain values, not templates"


@pytest.mark.parametrize("value", ["{{ secret('T') }}", "a {% if x %}b{% endif %}", "{# note #}x"])
def test_a_template_in_vars_is_an_error(tmp_path: Path, value: str) -> None:
    body = f"""\
    [vars]
    plain = "ok"
    tok = {json.dumps(value)}
    [containers.web]
    image = "x"
    env = {{ TOK = "{{{{ vars.tok }}}}" }}
    """
    p = only(tmp_path, body, environ={"T": "s3cret"})
    assert (p.key, p.line) == ("vars.tok", 5)
    assert p.message.startswith(VARS_ARE_NOT_TEMPLATES)
    assert "write the template directly where the value is used" in p.message


def test_templates_nested_in_vars_are_found(tmp_path: Path) -> None:
    body = '[vars]\ndb = { url = "{{ env(\'U\') }}", hosts = ["a", "{{ x }}"] }\n'
    found = problems(tmp_path, body)
    assert [(p.key, p.line) for p in found] == [("vars.db.hosts[1]", 4), ("vars.db.url", 4)]
    assert all(p.message.startswith(VARS_ARE_NOT_TEMPLATES) for p in found)


def test_a_template_in_a_var_file_or_a_var_flag_is_an_error(tmp_path: Path) -> None:
    var_file = tmp_path / "v.toml"
    var_file.write_text("ok = 1\n\ntok = \"{{ secret('T') }}\"\n")
    found = problems(tmp_path, "", var_files=[var_file], var_overrides=["n={% raw %}x", "m=plain"])
    assert [(p.file, p.key, p.line) for p in found] == [("--var", "n", None), (str(var_file), "tok", 3)]
    assert all(p.message.startswith(VARS_ARE_NOT_TEMPLATES) for p in found)


def test_undefined_variable_names_the_key_path(tmp_path: Path) -> None:
    p = only(tmp_path, '[vars]\ndomain = "x"\n[containers.web]\nimage = "x"\nhostname = "{{ vars.domian }}"\n')
    assert p.key == "containers.web.hostname"
    assert p.line == 7
    assert p.message.startswith("undefined variable")
    assert "domian" in p.message


def test_undefined_bare_name(tmp_path: Path) -> None:
    p = only(tmp_path, '[containers.web]\nimage = "{{ tag }}"\n')
    assert p.key == "containers.web.image"
    assert "'tag' is undefined" in p.message


@pytest.mark.parametrize(
    "expr",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ vars.__class__ }}",
        "{{ env.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
    ],
)
def test_sandbox_violations_are_clean_errors(tmp_path: Path, expr: str) -> None:
    p = only(tmp_path, f'[containers.web]\nimage = "{expr}"\n')
    assert p.key == "containers.web.image"
    assert p.message.startswith(("not allowed in a template", "undefined variable", "template"))
    assert "Traceback" not in p.message


def test_template_syntax_error(tmp_path: Path) -> None:
    p = only(tmp_path, '[containers.web]\nimage = "{{ vars.tag "\n')
    assert p.message.startswith("template syntax error")


def test_template_runtime_error_is_clean(tmp_path: Path) -> None:
    p = only(tmp_path, '[containers.web]\nimage = "{{ 1 // 0 }}"\n')
    assert p.key == "containers.web.image"
    assert "ZeroDivisionError" in p.message


def test_env_function(tmp_path: Path) -> None:
    body = """\
    [containers.web]
    image = "app:{{ env('APP_TAG', default='latest') }}"
    hostname = "{{ env('HOST_NAME') }}"
    """
    head = HEAD + 'env = ["APP_TAG", "HOST_NAME"]\n'
    loaded = load(write(tmp_path, body, head), environ={"HOST_NAME": "h1"})
    assert loaded.stack.containers["web"].image == "app:latest"
    assert loaded.stack.containers["web"].hostname == "h1"
    loaded = load(write(tmp_path, body, head), environ={"HOST_NAME": "h1", "APP_TAG": "2"})
    assert loaded.stack.containers["web"].image == "app:2"
    p = only(tmp_path, body, head)
    assert p.key == "containers.web.hostname"
    assert "environment variable 'HOST_NAME' is not set" in p.message


def test_keys_are_not_rendered(tmp_path: Path) -> None:
    loaded = load_ok(tmp_path, '[containers.web]\nimage = "x"\nenv = { "{{ k }}" = "v" }\n')
    assert loaded.stack.containers["web"].env == {"{{ k }}": "v"}


# ---------------------------------------------------------------- env files


def test_env_file_merges_and_env_wins(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text(
        "# a comment\n\nA=from-file\nB=\"quoted value\"\nexport C='single'\nnot a pair\nD = spaced \n"
    )
    (tmp_path / "more.env").write_text("B=second-file\nE=5\n")
    loaded = load_ok(
        tmp_path,
        '[containers.web]\nimage = "x"\nenv_file = ["app.env", "more.env"]\nenv = { A = "from-env" }\n',
    )
    assert loaded.stack.containers["web"].env == {
        "A": "from-env",
        "B": "second-file",
        "C": "single",
        "D": "spaced",
        "E": "5",
    }
    assert loaded.stack.containers["web"].env_file == ("app.env", "more.env")


def test_env_file_with_list_form_env(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text("A=from-file\nB=kept\n")
    loaded = load_ok(tmp_path, '[containers.web]\nimage = "x"\nenv_file = "app.env"\nenv = ["A=from-env"]\n')
    assert loaded.stack.containers["web"].env == {"A": "from-env", "B": "kept"}


def test_env_file_without_env(tmp_path: Path) -> None:
    (tmp_path / "app.env").write_text("A=1\n")
    loaded = load_ok(tmp_path, '[jobs.once]\nimage = "x"\nenv_file = "app.env"\n')
    assert loaded.stack.jobs["once"].env == {"A": "1"}


def test_missing_env_file(tmp_path: Path) -> None:
    p = only(tmp_path, '[containers.web]\nimage = "x"\nenv_file = ["nope.env"]\n')
    assert p.key == "containers.web.env_file[0]"
    assert p.line == 5
    assert "cannot read env file" in p.message and "nope.env" in p.message


# ---------------------------------------------------------------- resolution


def test_depends_on_list_resolves_per_kind(tmp_path: Path) -> None:
    loaded = load_ok(
        tmp_path,
        """\
        [containers.db]
        image = "x"
        [jobs.migrate]
        image = "x"
        depends_on = ["db"]
        [containers.web]
        image = "x"
        depends_on = ["migrate", "db"]
        """,
    )
    assert loaded.stack.containers["web"].depends_on == {"migrate": "completed", "db": "started"}
    assert loaded.stack.jobs["migrate"].depends_on == {"db": "started"}


def test_bind_mounts_resolve_relative_to_the_stack_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sub = tmp_path / "deploy"
    sub.mkdir()
    path = write(sub, '[containers.web]\nimage = "x"\nvolumes = ["./conf:/etc/app:ro", "../shared:/shared"]\n')
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    web = load(Path("deploy"), environ={}).stack.containers["web"]
    assert [(m.source, m.target, m.read_only) for m in web.volumes] == [
        (str(sub / "conf"), "/etc/app", True),
        (str(tmp_path / "shared"), "/shared", False),
    ]
    assert path.parent == sub


def test_files_resolve_from_source_content_and_template(tmp_path: Path) -> None:
    (tmp_path / "static.conf").write_text("static\n")
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "site.j2").write_text("server {{ vars.domain }}; # {{ name }}\n")
    loaded = load_ok(
        tmp_path,
        """\
        [vars]
        domain = "example.test"
        [files.static]
        source = "static.conf"
        [files.inline]
        content = "port={{ vars.domain }}"
        [files.site]
        template = "templates/site.j2"
        reload_signal = "HUP"
        """,
    )
    files = loaded.files
    assert files["static"].content == b"static\n"  # a source file is bytes
    assert files["inline"].content == "port=example.test"
    assert files["site"].content == "server example.test; # site\n"
    assert files["site"].reload_signal == "HUP"
    assert files["static"].sha256 == hashlib.sha256(b"static\n").hexdigest()
    assert not any(f.is_secret for f in files.values())


def test_a_template_file_keeps_raw_braces_out_of_the_stack_file(tmp_path: Path) -> None:
    # a template file is rendered once, as a file, not as a stack string
    (tmp_path / "t.j2").write_text("{% for n in vars.names %}{{ n }}\n{% endfor %}")
    loaded = load_ok(tmp_path, '[vars]\nnames = ["a", "b"]\n[files.list]\ntemplate = "t.j2"\n')
    assert loaded.files["list"].content == "a\nb\n"


@pytest.mark.parametrize(
    ("body", "key", "fragment"),
    [
        ('[files.f]\nsource = "nope.conf"\n', "files.f.source", "nope.conf"),
        ('[files.f]\ntemplate = "nope.j2"\n', "files.f.template", "nope.j2"),
    ],
)
def test_missing_file_sources(tmp_path: Path, body: str, key: str, fragment: str) -> None:
    p = only(tmp_path, body)
    assert p.key == key and p.line == 4
    assert "cannot read" in p.message and fragment in p.message


def test_template_file_errors_name_the_template(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("{{ vars.missing }}")
    p = only(tmp_path, '[files.f]\ntemplate = "t.j2"\n')
    assert p.key == "files.f.template"
    assert p.message.startswith("t.j2: line 1: undefined variable")


def test_the_design_example_loads(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "site.conf.j2").write_text("ServerName {{ vars.domain }}\n")
    path = write(
        tmp_path,
        """\
        [vars]
        domain = "example.test"

        [volumes.db_data]

        [files.site]
        template = "templates/site.conf.j2"

        [containers.db]
        image = "mysql:8.0"
        env = { MYSQL_DATABASE = "wordpress", MYSQL_PASSWORD = "{{ secret('MYSQL_PASSWORD') }}" }
        volumes = ["db_data:/var/lib/mysql"]
        restart = "unless-stopped"
        healthcheck = { test = ["CMD", "mysqladmin", "ping"], interval = "5s", retries = 10 }

        [jobs.migrate]
        image = "wordpress:6"
        command = ["wp", "core", "update-db"]
        depends_on = { db = "healthy" }

        [containers.web]
        image = "wordpress:6"
        ports = ["8080:80"]
        env = { WORDPRESS_DB_HOST = "db", SERVER_NAME = "{{ vars.domain }}" }
        files = [{ source = "site", target = "/etc/apache2/sites-enabled/site.conf" }]
        depends_on = { migrate = "completed", db = "healthy" }
        memory = "512m"
        """,
        head='[stack]\nname = "blog"\n',
    )
    loaded = load(path, environ={"MYSQL_PASSWORD": "pw"})
    assert loaded.name == "blog"
    assert loaded.base_dir == tmp_path
    assert set(loaded.stack.services()) == {"db", "migrate", "web"}
    assert loaded.files["site"].content == "ServerName example.test\n"


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ('[containers.web]\nimage = "x"\nenv_file = "a\\u0000b"\n', "containers.web.env_file[0]"),
        ('[files.f]\nsource = "a\\u0000b"\n', "files.f.source"),
        ('[files.f]\ntemplate = "a\\u0000b"\n', "files.f.template"),
        ('[containers.web]\nimage = "x"\nenv_file = "binary.dat"\n', "containers.web.env_file[0]"),
    ],
)
def test_unreadable_referenced_files_are_problems(tmp_path: Path, body: str, key: str) -> None:
    (tmp_path / "binary.dat").write_bytes(b"\xff\xfe\x00")
    p = only(tmp_path, body)
    assert p.key == key
    assert p.message.startswith(("cannot read", "cannot read env file"))


def test_a_source_file_is_taken_byte_for_byte(tmp_path: Path) -> None:
    raw = {
        "bin": b"\xff\xfe\x00\x89PNG\r\n\x1a\n",
        "crlf": b"a = 1\r\nb = 2\r\n",
        "cr": b"x\ry\r",
        "bom": b"\xef\xbb\xbfk\n",
    }
    for name, data in raw.items():
        (tmp_path / name).write_bytes(data)
    body = "".join(f'[files.{n}]\nsource = "{n}"\n' for n in raw)
    loaded = load_ok(tmp_path, body)
    for name, data in raw.items():
        f = loaded.files[name]
        assert f.content == data and f.data == data
        assert f.sha256 == hashlib.sha256(data).hexdigest()
        assert reveal(f.content).encode() == data  # what apply and drift write and measure
        assert file_digest(f.content, b"k" * 32) == hmac.new(b"k" * 32, data, hashlib.sha256).hexdigest()


def test_content_and_templates_are_text_written_as_utf8(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("caf\u00e9 {{ name }}\n")
    loaded = load_ok(tmp_path, '[files.t]\ntemplate = "t.j2"\n[files.c]\ncontent = "caf\u00e9"\n')
    assert loaded.files["t"].content == "caf\u00e9 t\n" and loaded.files["t"].data == "caf\u00e9 t\n".encode()
    assert loaded.files["c"].data == "caf\u00e9".encode()


def test_the_digest_of_an_unchanged_utf8_source_file_is_stable(tmp_path: Path) -> None:
    # pinned: computed when source files were still read as text; a change here would show every
    # already-applied stack a file change it does not have
    (tmp_path / "app.conf").write_bytes('listen 80;\n# caf\u00e9 \u2713\nname "x";\n'.encode())
    body = """\
    [files.conf]
    source = "app.conf"
    [containers.web]
    image = "x"
    files = [{ source = "conf", target = "/etc/app.conf" }]
    """
    loaded = load_ok(tmp_path, body)
    f = loaded.files["conf"]
    assert f.sha256 == "12ba1dbfdadcb980f7cbe4a5642f483cdd00aafd4c5dacc5331f12283433d8f3"
    keyed = "f69c5d1d21c92f64ac4d50fc2a876ce1332361bf10be5f0f11cffbc8d621c8d9"
    assert file_digest(f.content, b"k" * 32) == keyed
    assert service_spec(loaded, "web", b"k" * 32)["files"][0]["sha256"] == keyed


def test_unreadable_var_files_are_problems(tmp_path: Path) -> None:
    (tmp_path / "binary.toml").write_bytes(b"\xff\xfe")
    for var_file in [tmp_path / "binary.toml", "a\x00b"]:
        with pytest.raises(StackError, match="cannot read var file"):
            load(write(tmp_path, ""), var_files=[var_file], environ={})


@pytest.mark.parametrize("name", ["list", "str", "none", "int", "dict", "tuple", "Secret"])
def test_names_that_look_like_type_names_stay_in_the_path(tmp_path: Path, name: str) -> None:
    p = only(tmp_path, f'[containers.{name}]\nimage = "x"\nmemory = "lots"\n')
    assert p.key == f"containers.{name}.memory"
    p = only(tmp_path, f'[containers.web]\nimage = "x"\nenv = {{ {name} = {{ a = 1 }} }}\n')
    assert p.key == f"containers.web.env.{name}"


def test_a_template_file_error_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.j2").write_text("a\nb {{ vars.x }}\nc {{ vars.nope }}\n")
    (tmp_path / "t" / "b.j2").write_text("ok\n{% if %}\n")
    (tmp_path / "t" / "c.j2").write_text("one\ntwo\n{{ secret('HF_NOT_SET_ANYWHERE') }}\n")
    (tmp_path / "hostform.toml").write_text(
        '[stack]\nname = "t"\n[vars]\nx = 1\n'
        '[files.a]\ntemplate = "t/a.j2"\n[files.b]\ntemplate = "t/b.j2"\n[files.c]\ntemplate = "t/c.j2"\n'
    )
    with pytest.raises(StackError) as exc:
        load(tmp_path, environ={})
    text = "\n".join(exc.value.lines())
    assert "files.a.template: t/a.j2: line 3: undefined variable" in text
    assert "files.b.template: t/b.j2: line 2: template syntax error" in text
    assert "files.c.template: t/c.j2: line 3: secret 'HF_NOT_SET_ANYWHERE' is not set" in text
