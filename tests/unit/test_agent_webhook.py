"""The webhook's signature check: which sources a request is signed for (none: 401)."""

from __future__ import annotations

import hashlib
import hmac

from hostform.plans.agent.metrics import Metrics
from hostform.plans.agent.server import Site
from hostform.plans.agent.status import Board


def site() -> Site:
    secrets = {"infra": b"first-secret", "apps": b"second-secret"}
    return Site(Board(), Metrics(), secrets, lambda names: None, lambda: [], 1 << 20)


def hub(body: bytes, secret: bytes) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()}


def test_github_and_gitea_signatures() -> None:
    body = b'{"ref": "refs/heads/main"}'
    assert site().signed_by(body, hub(body, b"first-secret")) == ["infra"]
    assert site().signed_by(body, hub(body, b"second-secret")) == ["apps"]
    assert site().signed_by(body + b" ", hub(body, b"first-secret")) == []  # another body
    assert site().signed_by(body, hub(body, b"wrong")) == []
    assert site().signed_by(body, {"X-Hub-Signature-256": "sha256="}) == []
    assert site().signed_by(body, {"X-Hub-Signature-256": "sha1=abc"}) == []
    assert site().signed_by(body, {}) == []


def test_gitlab_tokens() -> None:
    assert site().signed_by(b"{}", {"X-Gitlab-Token": "second-secret"}) == ["apps"]
    assert site().signed_by(b"{}", {"X-Gitlab-Token": "second"}) == []
    assert site().signed_by(b"{}", {"X-Gitlab-Token": ""}) == []


def test_the_page_escapes_and_shows_no_stack_yet() -> None:
    page = site().page()
    assert "No stacks found yet." in page and "<script" not in page
