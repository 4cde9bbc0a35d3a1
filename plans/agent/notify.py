"""Notifications: one JSON POST per event to the configured webhook, sent by a thread of its own
(a slow or dead receiver never holds up a sync). Nothing secret is in them: plans and errors
are masked like everything hostform prints."""

from __future__ import annotations

import json
import queue
import sys
import threading
import urllib.request
from datetime import UTC, datetime
from typing import Any

from hostform.declare.secrets import mask_secrets

EVENTS = ("apply", "failure", "drift", "heal", "prune")
QUEUE_LIMIT = 1000  # events waiting to be sent: beyond this the oldest news is dropped


class Notifier:
    def __init__(self, url: str | None, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(QUEUE_LIMIT)
        self._thread: threading.Thread | None = None
        if url is not None:
            self._thread = threading.Thread(target=self._send_all, name="hostform-notify", daemon=True)
            self._thread.start()

    def __call__(self, event: str, stack: str, source: str, message: str, **details: Any) -> None:
        if self.url is None:
            return
        body = {
            "event": event,
            "stack": stack,
            "source": source,
            "message": mask_secrets(message),
            "at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            **details,
        }
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            print(f"agent: notification dropped (queue full): {event} {stack}", file=sys.stderr)

    def _send_all(self) -> None:
        while True:
            body = self._queue.get()
            if body is None:
                return
            self._send(body)

    def _send(self, body: dict[str, Any]) -> None:
        assert self.url is not None
        request = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "User-Agent": "hostform-agent"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                answer.read(1024)
        except (OSError, ValueError) as exc:
            print(f"agent: notification {body['event']} for {body['stack']} not delivered: {exc}", file=sys.stderr)

    def close(self, wait: float = 5.0) -> None:
        """Send what is queued (for at most `wait` seconds), then stop."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=wait)
        except queue.Full:
            return
        self._thread.join(wait)


__all__ = ["EVENTS", "Notifier"]
