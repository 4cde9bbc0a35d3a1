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
