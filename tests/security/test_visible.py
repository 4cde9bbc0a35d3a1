"""Dangerous settings: a create plan lists what the container gets, marks the risky parts, and a
policy kept outside the stack refuses them by rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.security.conftest import BUSYBOX, Planted, StackFixture, assert_clean_error, every_output

RISKY = f"""
[containers.app]
image = "{BUSYBOX}"
command = ["sleep", "600"]
user = "0"
env = {{ MODE = "prod", PW = "{{{{ secret('HF_PLANTED_PW') }}}}" }}
ports = ["127.0.0.1:18080:80"]
volumes = ["/:/host:ro", "/var/run/docker.sock:/var/run/docker.sock"]
cap_add = ["SYS_ADMIN", "CHOWN"]
"""


def test_a_create_plan_lists_attributes_and_marks_risks(hostile: StackFixture, planted: Planted) -> None:
    hostile.write(RISKY)
    runs, everything = every_output(hostile)
    planted.assert_absent(everything)
    text, as_json, markdown = runs[1].out, runs[2].out, runs[3].out
    for shown in (text, markdown):
        for fragment in (
            BUSYBOX,
            '["sleep", "600"]',
            "MODE=prod",
            "PW=(secret)",
            "127.0.0.1:18080:80/tcp",
            "/:/host:ro",
        ):
            assert fragment in shown, f"{fragment!r} not in:\n{shown}"
        assert "host-root-mount: volumes /:/host:ro" in shown
        assert "engine-socket: volumes /var/run/docker.sock:/var/run/docker.sock" in shown
        assert "dangerous-caps: cap_add SYS_ADMIN" in shown
        assert "CHOWN" in shown and "dangerous-caps: cap_add CHOWN" not in shown
    (app,) = [c for c in json.loads(as_json)["resource_changes"] if c["address"] == "containers.app"]
    assert {"key": "user", "value": "0"} in app["attributes"]
    assert sorted(r.split(":")[0] for r in app["risks"]) == ["dangerous-caps", "engine-socket", "host-root-mount"]
    shown = runs[-1].out  # show --format markdown of the saved plan keeps them
    assert "host-root-mount" in shown


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ("host-root-mount", "containers.app: host-root-mount: volumes /:/host:ro (denied)"),
        ("engine-socket", "containers.app: engine-socket"),
        ("dangerous-caps", "containers.app: dangerous-caps: cap_add SYS_ADMIN (denied)"),
    ],
)
def test_deny_fails_the_plan_naming_the_rule(hostile: StackFixture, rule: str, fragment: str) -> None:
    hostile.write(RISKY)
    saved = hostile.dir.parent / f"{hostile.name}-denied.json"
    result = hostile.run("plan", str(hostile.file), "--deny", rule, "--out", str(saved))
    assert_clean_error(result, "breaks the policy", fragment)
    assert not saved.exists()  # shown, never saved


def test_a_policy_file_outside_the_stack(hostile: StackFixture, tmp_path_factory: pytest.TempPathFactory) -> None:
    hostile.write(RISKY)
    policy = tmp_path_factory.mktemp("policy") / "policy.toml"
    policy.write_text('deny = ["host-root-mount", "engine-socket", "dangerous-caps"]\n')
    assert_clean_error(hostile.run("plan", str(hostile.file), "--policy", str(policy)), "host-root-mount")
    inside = hostile.dir / "policy.toml"
    inside.write_text("deny = []\n")
    assert_clean_error(hostile.run("plan", str(hostile.file), "--policy", str(inside)), "outside the stack's folder")
    assert_clean_error(hostile.run("plan", str(hostile.file), "--deny", "nope"), "unknown policy rule 'nope'")


def test_a_harmless_stack_passes_the_policy(hostile: StackFixture) -> None:
    hostile.write(f'[containers.app]\nimage = "{BUSYBOX}"\ncommand = ["sleep", "600"]\n')
    result = hostile.run("plan", str(hostile.file), "--deny", "host-root-mount,engine-socket,dangerous-caps")
    assert result.code == 0, result.both
    assert "! risk" not in result.out


def test_pipeline_template_plans_pull_requests_untrusted() -> None:
    workflow = (Path(__file__).resolve().parents[2] / "templates/ops/github-actions.yml").read_text()
    plan_step = workflow.split("jobs:")[1].split("plan-for-apply:")[0]
    assert "hostform plan" in plan_step and "--untrusted" in plan_step
