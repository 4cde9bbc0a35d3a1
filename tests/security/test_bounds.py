"""Untrusted work is bounded by construction (issue cases 1-4): whatever the stack or the Compose
file does, the run ends within seconds with one error line naming the limit, and the peak memory
of the whole process tree stays near the limit."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.security.conftest import BUSYBOX, Planted, StackFixture, assert_one_line, measured

APP = f'[containers.app]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "600"]\n'
MEMORY_PEAK_MIB = 640  # the default --max-memory is 512 MiB of data; code and libraries come on top
CHAIN = "('a'*1000000)" + "|replace('a','aa')" * 9


@pytest.mark.parametrize(
    "template",
    [
        "{{ ('a'*1000000)|replace('a','a'*1000) }}",  # 1 GB in one filter
        "{{ range(100000)|join('b'*1000000) }}",  # ~100 GB in one join
        "{{ " + CHAIN + " }}",  # doubling nine times, 512 MB
        "{{ [('x'*1000000)] * 1000 | join }}",  # a list of references, joined
        "{% for i in range(1000) %}{{ 'x' * 1000000 }}{% endfor %}",
    ],
)
def test_case_1_memory_hungry_templates_end_in_one_line(hostile: StackFixture, template: str) -> None:
    hostile.write(APP + f'env = {{ A = "{template}" }}\n')
    run = measured(hostile, "plan", str(hostile.file), "--untrusted", timeout=60)
    assert_one_line(run.result, "containers.app.env.A")
    assert run.seconds < 15, run
    assert run.peak_mib < MEMORY_PEAK_MIB, run


def test_case_1_the_limit_line_names_the_limit_and_where(hostile: StackFixture) -> None:
    hostile.write(APP + "env = { A = \"{{ ('a'*1000000)|replace('a','a'*1000) }}\" }\n")
    run = measured(hostile, "validate", str(hostile.file), "--untrusted")
    assert_one_line(run.result, "untrusted stack exceeded 512 MiB of memory while rendering containers.app.env.A")
    run = measured(hostile, "validate", str(hostile.file), "--untrusted", "--max-memory", "256")
    assert_one_line(run.result, "exceeded 256 MiB of memory", "--max-memory")
    assert run.peak_mib < 384, run


def test_case_2_many_entries_of_one_big_file(hostile: StackFixture) -> None:
    (hostile.dir / "big.txt").write_bytes(b"x" * (1 << 20))
    hostile.write("".join(f'[files.f{i}]\nsource = "big.txt"\n\n' for i in range(1500)))
    run = measured(hostile, "plan", str(hostile.file), "--untrusted")
    assert_one_line(run.result, "untrusted stack exceeded 1000 resources (it declares 1500)", "--max-resources")
    assert run.seconds < 10 and run.peak_mib < 200, run
    run = measured(hostile, "plan", str(hostile.file), "--untrusted", "--max-resources", "2000")
    assert_one_line(run.result, "exceeded 64 MiB of files read while reading files.f", "--max-read")
    assert run.seconds < 15 and run.peak_mib < 300, run
    run = measured(
        hostile, "validate", str(hostile.file), "--untrusted", "--max-resources", "2000", "--max-read", "9000"
    )
    assert_one_line(run.result, "exceeded 512 MiB of memory while reading files.f")
    assert run.seconds < 20 and run.peak_mib < MEMORY_PEAK_MIB, run


def _bomb(levels: int, width: int = 10) -> str:
    lines = ["x-a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    lines += [f"x-a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]" for i in range(1, levels + 1)]
    return "\n".join(lines) + f"\nservices:\n  s:\n    image: busybox\n    command: *a{levels}\n"


@pytest.mark.parametrize("levels", [9, 7, 5])
def test_case_3_yaml_bombs_are_refused_before_anything_is_built(tmp_path: Path, levels: int) -> None:
    (tmp_path / "docker-compose.yml").write_text(_bomb(levels))
    run = measured(None, "import", "compose", str(tmp_path / "docker-compose.yml"), cwd=tmp_path)
    assert_one_line(run.result, "docker-compose.yml", "aliases are expanded")
    assert run.seconds < 10 and run.peak_mib < 200, run


def test_case_3_import_compose_reads_no_device_and_no_huge_file(tmp_path: Path) -> None:
    run = measured(None, "import", "compose", "/dev/zero", cwd=tmp_path)
    assert_one_line(run.result, "not a regular file")
    assert run.seconds < 10, run
    big = tmp_path / "docker-compose.yml"
    big.write_text("services:\n  s:\n    image: busybox\n" + "# padding\n" * (1 << 20))
    run = measured(None, "import", "compose", str(big), cwd=tmp_path)
    assert_one_line(run.result, "larger than")
    (tmp_path / "deep.yml").write_text("[" * 100_000)
    run = measured(None, "import", "compose", str(tmp_path / "deep.yml"), cwd=tmp_path)
    assert_one_line(run.result, "nested more than")


@pytest.mark.parametrize("target", ["/dev/zero", "planted"])
def test_case_4_a_dockerignore_leading_out_is_refused(hostile: StackFixture, planted: Planted, target: str) -> None:
    (hostile.dir / "app").mkdir()
    (hostile.dir / "app" / "Dockerfile").write_text(f"FROM {BUSYBOX}\n")
    (hostile.dir / "app" / ".dockerignore").symlink_to(planted.host_file if target == "planted" else target)
    hostile.write('[containers.app]\nbuild = "./app"\ncommand = ["sleep", "600"]\n')
    run = measured(hostile, "plan", str(hostile.file), "--untrusted")
    assert_one_line(run.result, "containers.app.build", "'.dockerignore'", "symbolic link")
    planted.assert_absent(run.result.both)
    assert str(planted.host_file) not in run.result.both
    assert run.seconds < 10 and run.peak_mib < 200, run


def test_case_4_a_dockerignore_that_is_a_device_inside_is_not_read(hostile: StackFixture) -> None:
    (hostile.dir / "app").mkdir()
    (hostile.dir / "app" / "Dockerfile").write_text(f"FROM {BUSYBOX}\n")
    (hostile.dir / "app" / ".dockerignore").mkdir()  # a folder: not a regular file
    hostile.write('[containers.app]\nbuild = "./app"\ncommand = ["sleep", "600"]\n')
    run = measured(hostile, "plan", str(hostile.file), "--untrusted")
    assert_one_line(run.result, "containers.app.build", "not a regular file")
