"""--untrusted (and HOSTFORM_UNTRUSTED=1): no devices or FIFOs, bounded files, bounded rendering."""

from __future__ import annotations

import os
import time

import pytest

from tests.security.conftest import BUSYBOX, Planted, StackFixture, assert_clean_error

APP = f'[containers.app]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "600"]\n'


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/stdin", "/dev/urandom"])
@pytest.mark.parametrize("key", ["source", "template"])
def test_devices_are_never_read_even_when_allowed(hostile: StackFixture, device: str, key: str) -> None:
    (hostile.dir / "dev").symlink_to(device)
    hostile.write(f'[files.x]\n{key} = "dev"\n')
    started = time.monotonic()
    for extra in ((), ("--untrusted",), ("--allow-path", "/dev", "--untrusted"), ("--allow-path", "/dev")):
        result = hostile.run("validate", str(hostile.file), *extra, timeout=30)
        assert_clean_error(result, f"files.x.{key}")
    assert time.monotonic() - started < 20


def test_a_fifo_in_the_stack_folder_is_not_read(hostile: StackFixture) -> None:
    os.mkfifo(hostile.dir / "app.env")
    hostile.write(APP + 'env_file = "app.env"\n')
    result = hostile.run("validate", str(hostile.file), "--untrusted", timeout=30)
    assert_clean_error(result, "containers.app.env_file[0]", "not a regular file")


def test_untrusted_limits_file_size(hostile: StackFixture) -> None:
    (hostile.dir / "big.txt").write_bytes(b"x" * (2 << 20))
    hostile.write('[files.x]\nsource = "big.txt"\n')
    assert hostile.run("validate", str(hostile.file)).code == 0
    assert_clean_error(hostile.run("validate", str(hostile.file), "--untrusted"), "files.x.source", "larger than")
    hostile.env["HOSTFORM_UNTRUSTED"] = "1"
    assert_clean_error(hostile.run("validate", str(hostile.file)), "files.x.source", "larger than")


@pytest.mark.parametrize(
    "template",
    [
        "{{ 9**(9**9) }}",
        "{{ 'x' * 10**9 }}",
        "{{ ('x' * 999999) + ('y' * 999999) }}",
        "{{ 'x' | center(10**9) }}",
        "{{ 'x'.ljust(10**9) }}",
        "{{ '%0999999999d' % 1 }}",
        "{{ '%0999999999d' | format(1) }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ lipsum(10**6) }}",
        "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}",
        "{% for i in range(99999) %}{{ 'x' * 99 }}{% endfor %}",
        "{% set ns = namespace(l=[1]) %}{{ ns.l.extend(ns.l) }}",
        "{{ range(99999) | list | join * 99 }}",
    ],
)
def test_hostile_templates_fail_fast(hostile: StackFixture, template: str) -> None:
    hostile.write(APP + f'env = {{ X = "{template}" }}\n')
    started = time.monotonic()
    result = hostile.run("validate", str(hostile.file), "--untrusted", timeout=60)
    took = time.monotonic() - started
    assert_clean_error(result, "containers.app.env.X")
    assert took < 15, f"{template} took {took:.1f}s"


def test_show_untrusted_reads_no_device(hostile: StackFixture, planted: Planted) -> None:
    for path in ("/dev/zero", "/dev/stdin", str(hostile.dir)):
        result = hostile.run("show", path, "--untrusted", timeout=30)
        assert_clean_error(result, "cannot read saved plan")
    big = hostile.dir / "plan.json"
    big.write_text('{"kind": "hostform-plan", "x": "' + "x" * (2 << 20) + '"}')
    assert_clean_error(hostile.run("show", str(big), "--untrusted"), "larger than")
    big.write_text('{"kind": "hostform-plan", "format_version": "1.0", "resource_changes": [{}]}')
    assert_clean_error(hostile.run("show", str(big)))
