"""validate means the engine will accept it: each of these used to pass validate and fail halfway
through apply (after the network was created). Now validate names the key and the reason, and
apply refuses before it touches anything."""

from __future__ import annotations

import pytest

from tests.security.conftest import BUSYBOX, StackFixture, assert_clean_error

APP = f'[containers.app]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "600"]\n'

CASES = [
    ('env = { "" = "y" }', "containers.app.env", "env name ''"),
    ('env = { "A=B" = "y" }', "containers.app.env", "env name 'A=B'"),
    ('env = ["=y"]', "containers.app.env", "env name ''"),
    ('env = { A = "x\\u0000y" }', "containers.app.env", "NUL"),
    ('memory = "1k"', "containers.app.memory", "minimum of 6m"),
    ('memory = "64m"\nmemory_reservation = "128m"', "containers.app", "memory_reservation must not be above memory"),
    ('extra_hosts = ["foo:notanip"]', "containers.app.extra_hosts", "'notanip' is not an IP address"),
    ('extra_hosts = { foo = "1.2.3" }', "containers.app.extra_hosts", "is not an IP address"),
    ('stop_signal = "SIGFOO"', "containers.app.stop_signal", "not a signal"),
    ('tmpfs = ["relative"]', "containers.app.tmpfs", "must be an absolute path"),
    ("cpus = 1e308", "containers.app.cpus", "less than or equal to 1024"),
    ("cpus = 0.001", "containers.app.cpus", "greater than or equal to 0.01"),
    ('files = [{ source = "f", target = "/" }]', "containers.app.files[0].target", "must name a file"),
    ('files = [{ source = "f", target = "/etc/" }]', "containers.app.files[0].target", "must name a file"),
]


@pytest.mark.parametrize(("extra", "key", "why"), CASES, ids=[c[0][:30] for c in CASES])
def test_validate_refuses_what_the_engine_would(stack: StackFixture, extra: str, key: str, why: str) -> None:
    stack.write('[files.f]\ncontent = "x"\n\n' + APP + extra + "\n")
    assert_clean_error(stack.run("validate", str(stack.file)), key, why)
    refused = stack.run("apply", str(stack.file), "--auto-approve")
    assert_clean_error(refused, key)
    assert stack.containers() == []
    assert stack.api.networks(filters={"label": f"io.hostform.stack={stack.name}"}) == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("where", ["stack", "container", "network"])
def test_names_with_a_trailing_newline_are_refused(stack: StackFixture, where: str) -> None:
    if where == "stack":
        stack.file.write_text('[stack]\nname = "bad\\n"\n')
        key = "stack.name"
    else:
        stack.write({"container": '[containers."bad\\n"]\nimage = "x"\n', "network": '[networks."bad\\n"]\n'}[where])
        key = f"{where}s"
    assert_clean_error(stack.run("validate", str(stack.file)), key, "bad\\n")


def test_a_duplicate_toml_key_is_named(stack: StackFixture) -> None:
    stack.write(APP + 'user = "a"\nuser = "b"\n')
    assert_clean_error(stack.run("validate", str(stack.file)), "user is set twice")


def test_a_file_target_that_is_a_folder_in_the_image_is_refused(stack: StackFixture) -> None:
    """/tmp used to become a 1-byte file: the copy is refused before the container starts."""
    stack.write('[files.f]\ncontent = "x"\n\n' + APP + 'files = [{ source = "f", target = "/tmp" }]\n')
    assert_clean_error(stack.apply(check=False), "/tmp", "is a folder in the image")
    assert not any(c["State"] == "running" for c in stack.containers())
