from __future__ import annotations

from tests.integration.conftest import BUSYBOX, StackFixture


def test_apply_then_plan_is_empty(stack: StackFixture) -> None:
    stack.write(f"""
[containers.app]
image = "{BUSYBOX}"
command = ["sleep", "600"]
stop_signal = "SIGKILL"
""")
    stack.apply()
    result = stack.plan()
    assert result.code == 0, result.both
    assert "No changes" in result.out


def test_the_readme_example_runs_as_written(stack: StackFixture) -> None:
    import re
    import urllib.request

    from tests.integration.conftest import REPO
    from tests.integration.test_convergence_support import free_port

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    example = re.search(r"## The stack format by example\s+```toml\n(.*?)```", readme, re.S)
    assert example is not None
    port = free_port()
    body = example.group(1).split("\n", 3)[3]  # drop [stack] and its name: the fixture names it
    body = body.replace("127.0.0.1:8080:8080", f"127.0.0.1:{port}:8080")
    stack.write(body)
    (stack.dir / "templates").mkdir()
    (stack.dir / "templates" / "site.conf.j2").write_text("<h1>{{ vars.domain }}</h1>\n")
    stack.env["DB_PASSWORD"] = "s3cret-readme"
    stack.apply()
    assert stack.plan().code == 0
    page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
    assert page == "<h1>example.test</h1>\n"
