"""A saved plan (plan --out) has its own versioned format: it round-trips, whatever the --json rendering does."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from hostform.declare.errors import PlanError
from hostform.declare.load import load
from hostform.plans.diff import MASKED
from hostform.plans.model import Action, Change, Plan, PlanMode, Reason, ReasonKind, ReplaceOrder
from hostform.plans.planfile import VERSION, PlanRequest, SavedPlan, decode, encode, load_plan_file, save_plan

PLAN = Plan(
    stack="blog",
    fingerprint="abc",
    changes=(
        Change("networks.default", "network", "default", "blog_default", Action.CREATE, (Reason(ReasonKind.NEW),)),
        Change(
            "containers.web",
            "container",
            "web",
            "blog-web",
            Action.REPLACE,
            (
                Reason(ReasonKind.FIELD, "env.PW", MASKED, MASKED),
                Reason(ReasonKind.FIELD, "ports", [{"container_port": 80}], [{"container_port": 81}]),
                Reason(ReasonKind.IMAGE, "img:1", "sha256:aaa", "sha256:bbb"),
                Reason(ReasonKind.FIELD, "files[/etc/a].sha256", "sha256:1", "sha256:2", diff="-a\n+b"),
            ),
            current_id="1" * 64,
            order=ReplaceOrder.START_FIRST,
        ),
        Change(
            "containers.worker[2]",
            "container",
            "worker",
            "blog-worker-2",
            Action.UPDATE,
            (Reason(ReasonKind.LIVE, "memory", 1, 2, outside=True),),
            replica=2,
            current_id="2" * 64,
            order=ReplaceOrder.STOP_FIRST,
        ),
        Change("volumes.old", "volume", "old", "blog_old", Action.DELETE, (Reason(ReasonKind.ORPHAN, text="gone"),)),
    ),
    conflicts=("container 'blog-x' already exists (not managed by hostform); hostform will not touch it",),
    warnings=("volume 'blog_old' is no longer declared",),
    live={"container blog-web": "111/running", "network blog_default": "222"},
    key=b"k" * 16,
    key_known=True,
    mode=PlanMode.NORMAL,
)
REQUEST = PlanRequest("/srv/blog/hostform.toml", ("tag=2",), ("/srv/blog/prod.toml",), ("web",), ("web", "db"))


def test_a_saved_plan_round_trips() -> None:
    saved = SavedPlan(REQUEST, PLAN, "d" * 64)
    back = decode(json.loads(json.dumps(encode(saved))))
    assert back == SavedPlan(REQUEST, replace(PLAN, key=b""), "d" * 64)  # the key is never saved
    assert encode(back) == encode(saved)
    assert [str(r) for c in back.plan.changes for r in c.reasons] == [str(r) for c in PLAN.changes for r in c.reasons]


def test_the_file_is_versioned_and_is_not_the_json_rendering() -> None:
    doc = encode(SavedPlan(REQUEST, PLAN))
    assert doc["kind"] == "hostform-plan" and doc["version"] == VERSION
    assert "resource_changes" not in json.dumps(doc) and "summary" not in doc["plan"]


def test_the_key_and_secret_digests_never_reach_the_file() -> None:
    digest = {"secret": "hmac-sha256:" + "f" * 64}
    leaky = Change(
        "containers.db",
        "container",
        "db",
        "blog-db",
        Action.REPLACE,
        (Reason(ReasonKind.FIELD, "env.PW", digest, digest),),
    )
    text = json.dumps(encode(SavedPlan(REQUEST, Plan("blog", (leaky,), "f", key=b"secret-key-bytes!"))))
    assert "hmac-sha256" not in text and b"secret-key-bytes!".hex() not in text and "secret-key-bytes" not in text
    (reason,) = decode(json.loads(text)).plan.changes[0].reasons
    assert str(reason) == "env.PW: (secret) -> (secret)"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"kind": "hostform-plan", "format_version": "1.0"}, "version '1.0' is not supported.*plan STACK --out"),
        ({"kind": "hostform-plan", "version": VERSION + 1}, f"version {VERSION + 1} is not supported"),
        ({"kind": "something"}, "not a hostform plan file"),
        ({"kind": "hostform-plan", "version": VERSION, "request": {}}, "damaged: plan is missing"),
        (
            {"kind": "hostform-plan", "version": VERSION, "request": {}, "plan": {}, "desired": None},
            "damaged: request.stack_path is missing",
        ),
    ],
)
def test_another_version_or_a_damaged_file_is_one_clear_error(doc: dict[str, object], message: str) -> None:
    with pytest.raises(PlanError, match=message):
        decode(doc, "plan.json")


def test_save_and_load(tmp_path: Path) -> None:
    stack = tmp_path / "hostform.toml"
    stack.write_text('[stack]\nname = "blog"\n[containers.web]\nimage = "img:1"\n', encoding="utf-8")
    loaded = load(stack)
    path = tmp_path / "plan.json"
    save_plan(str(path), PLAN, loaded, PlanRequest.of(loaded, [], ["prod.toml"], [], []))
    saved = load_plan_file(str(path))
    assert saved.request.stack_path == str(stack.resolve())
    assert saved.request.var_file == (str(Path("prod.toml").resolve()),)
    assert saved.desired and saved.actions() == [(c.address, c.action.value) for c in PLAN.actionable]


@pytest.mark.parametrize("what", ["host", "inputs"])
def test_a_stale_plan_says_to_run_plan_again(what: str) -> None:
    from hostform.plans.planfile import check_fresh

    saved = SavedPlan(REQUEST, PLAN)
    now = (
        replace(PLAN, fingerprint="def", live={"container blog-web": "333/running"})
        if what == "host"
        else replace(PLAN, changes=PLAN.changes[:1])
    )
    with pytest.raises(PlanError) as refused:
        check_fresh(saved, now, None)  # type: ignore[arg-type]  # the declaration is not read: refused before
    message = str(refused.value)
    assert message.startswith("saved plan is stale: ")
    assert "Nothing was changed: run plan again (hostform plan /srv/blog/hostform.toml --var tag=2 " in message
    assert "--var-file /srv/blog/prod.toml --replace web --target web --target db --out FILE)" in message
    assert message.endswith("and apply the new plan")
