"""Leaks 1-3 and 5: what a stack file can read of the host, its environment and its secrets."""

from __future__ import annotations

import os

import pytest

from tests.security.conftest import BUSYBOX, Planted, StackFixture, assert_clean_error, every_output

APP = f'[containers.app]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "600"]\n'


def test_env_function_reads_only_declared_variables(hostile: StackFixture, planted: Planted) -> None:
    """Leak 1: env('X') of an undeclared variable is an error; its value shows nowhere."""
    hostile.write(APP + f"labels = {{ x = \"{{{{ env('{planted.env_name}') }}}}\" }}\n")
    runs, everything = every_output(hostile)
    planted.assert_absent(everything)
    for run in runs[:5]:
        assert_clean_error(run, "containers.app.labels.x", "is not declared in [stack] env")


def test_a_declared_variable_is_refused_under_untrusted_unless_the_operator_allows_it(
    hostile: StackFixture, planted: Planted
) -> None:
    body = APP + f"labels = {{ x = \"{{{{ env('{planted.env_name}') }}}}\" }}\n"
    hostile.file.write_text(
        f'[stack]\nname = "{hostile.name}"\nenv = ["{planted.env_name}"]\n\n{body}', encoding="utf-8"
    )
    refused = hostile.run("validate", str(hostile.file), "--untrusted")
    assert_clean_error(refused, "stack.env[0]", "--allow-env")
    planted.assert_absent(refused.both)
    hostile.env["HOSTFORM_UNTRUSTED"] = "1"
    assert_clean_error(hostile.run("validate", str(hostile.file)), "stack.env[0]")
    allowed = hostile.run("validate", str(hostile.file), "--allow-env", planted.env_name)
    assert allowed.code == 0, allowed.both  # the operator's decision: a plain value, shown in plans


@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink", "proc"])
def test_env_file_outside_the_stack_folder_is_refused(hostile: StackFixture, planted: Planted, how: str) -> None:
    """Leak 2: env_file = "/proc/self/environ", an absolute path, ../ or a symlink leaving the folder."""
    path = {
        "absolute": str(planted.host_file),
        "dotdot": os.path.relpath(planted.host_file, hostile.dir),
        "symlink": "linked.env",
        "proc": "/proc/self/environ",
    }[how]
    (hostile.dir / "linked.env").symlink_to(planted.host_file)
    hostile.write(APP + f'env_file = "{path}"\n')
    runs, everything = every_output(hostile)
    planted.assert_absent(everything)
    for run in runs[:5]:
        assert_clean_error(run, "containers.app.env_file[0]", "outside the stack's folder")


@pytest.mark.parametrize("key", ["source", "template"])
@pytest.mark.parametrize("how", ["absolute", "dotdot", "symlink", "symlinked-folder"])
def test_config_files_outside_the_stack_folder_are_refused(
    hostile: StackFixture, planted: Planted, key: str, how: str
) -> None:
    """Leak 3: [files.x] source = "/etc/shadow", template = "../../etc/passwd", or a symlink."""
    (hostile.dir / "link.txt").symlink_to(planted.host_file)
    (hostile.dir / "linkdir").symlink_to(planted.host_file.parent)
    path = {
        "absolute": str(planted.host_file),
        "dotdot": os.path.relpath(planted.host_file, hostile.dir),
        "symlink": "link.txt",
        "symlinked-folder": f"linkdir/{planted.host_file.name}",
    }[how]
    hostile.write(f'[files.x]\n{key} = "{path}"\n\n' + APP + 'files = [{ source = "x", target = "/etc/x.conf" }]\n')
    runs, everything = every_output(hostile)
    planted.assert_absent(everything)
    for run in runs[:5]:
        assert_clean_error(run, f"files.x.{key}", "outside the stack's folder")


def test_the_operator_can_allow_a_folder_and_the_stack_cannot(hostile: StackFixture, planted: Planted) -> None:
    hostile.write('[files.x]\nsource = "' + str(planted.host_file) + '"\n')
    assert_clean_error(hostile.run("validate", str(hostile.file)), "files.x.source")
    allowed = hostile.run("validate", str(hostile.file), "--allow-path", str(planted.host_file.parent))
    assert allowed.code == 0, allowed.both
    planted.assert_absent(allowed.both)
    # nothing in the stack file widens it: an allow_path key is an unknown key
    hostile.file.write_text(
        f'[stack]\nname = "{hostile.name}"\nallow_path = ["/"]\n\n[files.x]\nsource = "{planted.host_file}"\n',
        encoding="utf-8",
    )
    widened = hostile.run("validate", str(hostile.file))
    assert_clean_error(widened, "unknown key 'allow_path'")
    planted.assert_absent(widened.both)


def test_a_var_file_outside_the_stack_folder_is_refused(hostile: StackFixture, planted: Planted) -> None:
    hostile.write(APP)
    planted.host_file.write_text(f'x = "{planted.host_text}"\n', encoding="utf-8")
    refused = hostile.run("validate", str(hostile.file), "--var-file", str(planted.host_file))
    assert_clean_error(refused, "--var-file", "outside the stack's folder")
    planted.assert_absent(refused.both)


def test_the_stack_file_itself_may_not_be_a_symlink_out_of_its_folder(hostile: StackFixture, planted: Planted) -> None:
    hostile.file.symlink_to(planted.host_file)
    refused = hostile.run("validate", str(hostile.dir))
    assert_clean_error(refused, "outside the stack's folder")
    planted.assert_absent(refused.both)


SECRET_IN_ERRORS = [
    "{{ env(secret('PW')) }}",
    "{{ vars[secret('PW')] }}",
    "{{ {}[secret('PW')] }}",
    "{{ vars | attr(secret('PW')) }}",
    "{{ secret('PW') | int }}",
    "{{ secret('PW') + 1 }}",
    "{{ secret('PW')[0] }}",
    "{{ secret('PW') | upper }}",
    "{{ 1 / 0 if secret('PW') == 'x' else nope }}",
    "{{ secret('PW').__class__ }}",
    "{{ (secret('PW') | string)[1:] }}",
    "{{ secret('PW') | list | join('-') }}",
]


@pytest.mark.parametrize("template", SECRET_IN_ERRORS)
def test_a_secret_never_reaches_an_error_message(hostile: StackFixture, planted: Planted, template: str) -> None:
    """Leak 5: the template only ever holds a stand-in for the secret, so no error can quote it."""
    template = template.replace("PW", planted.secret_name)
    hostile.write(APP + f'env = {{ X = "{template}" }}\n')
    runs, everything = every_output(hostile)
    planted.assert_absent(everything)
    assert all(r.code in (0, 1) and "Traceback" not in r.both for r in runs), everything


def test_untrusted_plans_do_not_probe_host_paths(hostile: StackFixture, planted: Planted) -> None:
    """A plan says when a bind-mount source is missing; under --untrusted it does not look outside
    the stack's folder, so a stranger cannot learn which host paths exist."""
    missing = f"/hf-no-such-path-{hostile.name}"
    hostile.write(APP + f'volumes = ["{missing}:/x", "{planted.host_file}:/y:ro"]\n')
    trusted = hostile.run("plan", str(hostile.file))
    assert trusted.code == 1 and "does not exist" in trusted.both, trusted.both
    untrusted = hostile.run("plan", str(hostile.file), "--untrusted")
    assert untrusted.code == 0 and "does not exist" not in untrusted.both, untrusted.both
    assert "host-path-mount" in untrusted.out
    planted.assert_absent(trusted.both, untrusted.both)
