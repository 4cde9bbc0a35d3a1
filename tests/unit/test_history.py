"""What `history --show N` keeps of each action: why it was planned and what went wrong, never a
secret, and an outcome that says `failed` when an action failed (plans.recording, plans.history)."""

from __future__ import annotations

import pytest

from hostform.declare.secrets import MASK, read_secret
from hostform.plans.history import print_generation
from hostform.plans.model import Action, Change, Plan, Reason, ReasonKind
from hostform.plans.recording import Outcome, summary_of
from hostform.runtime.generation import Generation

REPLACED = Change(
    "containers.web",
    "container",
    "web",
    "s-web",
    Action.REPLACE,
    (
        Reason(ReasonKind.FIELD, "env.MODE", "a", "b"),
        Reason(ReasonKind.FIELD, "env.TOKEN", {"secret": "d1"}, {"secret": "d2"}),
    ),
    current_id="c" * 64,
)
MIGRATE = Change("jobs.migrate", "job", "migrate", "s-migrate", Action.CREATE, (Reason(ReasonKind.NEW),))
WORKER = Change("containers.worker", "container", "worker", "s-worker", Action.CREATE, (Reason(ReasonKind.NEW),))
PLAN = Plan("s", (REPLACED, MIGRATE, WORKER), "fp")


@pytest.fixture
def secret(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("HISTORY_TOKEN", "tok-9f8e7d")
    value = read_secret("HISTORY_TOKEN")  # read: the masking knows it from here on
    assert value is not None
    return value


def _generation(summary: dict[str, object]) -> Generation:
    return Generation("s", 7, "apply", "2026-01-31T03:00:00Z", "ops@ci", "0.1.0", None, "d", summary, ())


def test_each_action_keeps_its_reasons_and_its_error(secret: str) -> None:
    outcome = Outcome(
        done=(REPLACED,),
        failed=(MIGRATE,),
        not_done=(WORKER,),
        why=(
            (MIGRATE, f"job 'migrate' exited with code 3; last log lines: token={secret}"),
            (WORKER, "a dependency failed"),
        ),
    )
    summary = summary_of(PLAN, outcome)
    assert summary["outcome"] == "failed"
    web, migrate, worker = summary["changes"]
    assert web["reasons"] == ['env.MODE: "a" -> "b"', f"env.TOKEN: {MASK} -> {MASK}"]
    assert migrate["error"] == f"job 'migrate' exited with code 3; last log lines: token={MASK}"
    assert (migrate["reasons"], worker["why"]) == ([], "a dependency failed")
    assert secret not in repr(summary)


def test_show_prints_reasons_errors_and_failed(capsys: pytest.CaptureFixture[str], secret: str) -> None:
    outcome = Outcome((REPLACED,), (MIGRATE,), (WORKER,), why=((MIGRATE, f"boom {secret}\x1b[2J"),))
    print_generation(_generation(summary_of(PLAN, outcome)))
    out = capsys.readouterr().out
    assert "generation 7 of stack 's': apply failed" in out
    assert '    replace containers.web (s-web): done\n        ~ env.MODE: "a" -> "b"\n' in out
    assert f"        error: boom {MASK}\\u001b[2J\n" in out  # escaped: no terminal control reaches the screen
    assert "    create containers.worker (s-worker): not done\n" in out
    assert secret not in out and "\x1b" not in out


def test_only_actions_not_done_is_incomplete_and_an_interruption_says_so() -> None:
    assert Outcome((REPLACED,), (), (WORKER,)).word == "incomplete"
    assert Outcome((REPLACED,), (MIGRATE,), (), interrupted=True).word == "interrupted"
    assert Outcome((REPLACED,)).word == "complete"
