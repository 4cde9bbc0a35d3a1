"""Counts read as English (`1 change`, `2 changes`), and a destroy plan says `destroy` once,
in its heading, not under every line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hostform.plans.apply import ApplyReport
from hostform.plans.commands import stage_report
from hostform.plans.drift import Drift, DriftReport, Finding
from hostform.plans.drift_view import verdict
from hostform.plans.markdown import render_markdown
from hostform.plans.model import Action, Change, Plan, PlanMode, Reason, ReasonKind
from hostform.plans.render import counted, plan_lines

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _web(action: Action, reason: Reason) -> Change:
    return Change("containers.web", "container", "web", "blog-web", action, (reason,), current_id="1" * 64)


def _text(plan: Plan) -> list[str]:
    return ["".join(text for text, _ in line) for line in plan_lines(plan)]


@pytest.mark.parametrize(("n", "text"), [(0, "0 changes"), (1, "1 change"), (2, "2 changes")])
def test_counted(n: int, text: str) -> None:
    assert counted(n, "change") == text


def test_one_action_applied_is_one_action(capsys: pytest.CaptureFixture[str]) -> None:
    change = _web(Action.CREATE, Reason(ReasonKind.NEW))
    report = ApplyReport(done=[change])
    stage_report(report, Plan("blog", (change,), "f"))
    assert capsys.readouterr().out == "Apply complete: 1 action on stack 'blog'.\n"


def test_one_finding_is_one_finding() -> None:
    one = Finding("container", "web", "containers.web", "blog-web", Drift.STOPPED, remedy=Action.START)
    pending = Finding("container", "db", "containers.db", "blog-db", Drift.PENDING)
    ((words, _),) = verdict(DriftReport("blog", NOW, (one, pending)))
    assert words.startswith("Drift: 1 finding in stack 'blog'") and "(s)" not in words
    assert "1 pending change in the stack file" in words


def test_the_markdown_details_count_one_change() -> None:
    plan = Plan("blog", (_web(Action.CREATE, Reason(ReasonKind.NEW)),), "f")
    assert "Details (1 change)" in render_markdown(plan)


def test_a_destroy_plan_does_not_say_destroy_under_every_line() -> None:
    changes = (
        _web(Action.DELETE, Reason(ReasonKind.ORPHAN, text="destroy")),
        Change(
            "networks.default",
            "network",
            "default",
            "blog_default",
            Action.DELETE,
            (Reason(ReasonKind.ORPHAN, text="destroy"),),
            current_id="2" * 64,
        ),
    )
    plan = Plan("blog", changes, "f", mode=PlanMode.DESTROY)
    lines = _text(plan)
    assert not any(line.strip() == "# destroy" for line in lines), lines
    assert sum("will be destroyed" in line for line in lines) == 2
    assert "-     destroy" not in render_markdown(plan)


def test_an_orphan_in_a_normal_plan_keeps_its_reason() -> None:
    plan = Plan("blog", (_web(Action.DELETE, Reason(ReasonKind.ORPHAN, text="no longer declared")),), "f")
    assert "        # no longer declared" in _text(plan)
