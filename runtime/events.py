"""The engine's event stream, for the containers of hostform's stacks (the agent's drift trigger).

Only containers carrying the stack label are followed, and of their events only those that can
mean drift: a container that died, was removed, paused, renamed, updated or found unhealthy.
The lock and the record (created, never started) and an apply's temporary containers are left out.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import Any

from hostform.declare import names
from hostform.declare.frozen import Frozen
from hostform.runtime.engine import Engine

DRIFT_ACTIONS = frozenset({"die", "destroy", "pause", "rename", "update", "oom", "health_status: unhealthy"})
RECONNECT_WAIT = 1.0  # seconds between attempts when the engine's stream broke


class ContainerEvent(Frozen):
    stack: str
    engine_name: str
    action: str
    at: float  # the engine's time of the event, seconds since the epoch


class EventStream:
    """Follows the engine's events until `close()`; reconnects (from the last event seen) when the
    stream breaks, so an engine restart loses nothing it still reports."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._closed = threading.Event()
        self._stream: Any = None
        self._guard = threading.Lock()

    def run(self, on_event: Callable[[ContainerEvent], None], on_error: Callable[[str], None]) -> None:
        since = time.time()
        while not self._closed.is_set():
            try:
                since = self._follow(since, on_event)
            except Exception as exc:  # the SDK raises requests', urllib3's and socket errors here
                if self._closed.is_set():
                    return
                on_error(f"engine event stream broke ({type(exc).__name__}: {exc}); reconnecting")
            self._closed.wait(RECONNECT_WAIT)

    def _follow(self, since: float, on_event: Callable[[ContainerEvent], None]) -> float:
        filters = {"type": ["container"], "label": [names.LABEL_STACK]}
        stream = self.engine.call(
            "follow the engine's events", self.engine.api.events, since=int(since), filters=filters, decode=True
        )
        with self._guard:
            self._stream = stream
        if self._closed.is_set():
            stream.close()
        for raw in stream:
            since = max(since, float(raw.get("time") or since))
            event = event_of(raw)
            if event is not None:
                on_event(event)
        return since

    def close(self) -> None:
        self._closed.set()
        with self._guard:
            stream = self._stream
        if stream is not None:
            with contextlib.suppress(Exception):  # closing a stream that already broke
                stream.close()


def event_of(raw: dict[str, Any]) -> ContainerEvent | None:
    """The engine's event as ours, or None when it cannot mean drift."""
    action = str(raw.get("Action") or raw.get("status") or "")
    if action not in DRIFT_ACTIONS:
        return None
    attributes = (raw.get("Actor") or {}).get("Attributes") or {}
    stack = attributes.get(names.LABEL_STACK)
    engine_name = str(attributes.get("name") or "")
    kind = attributes.get(names.LABEL_KIND)
    if not stack or kind == names.KIND_RECORD or names.LABEL_RECORD in attributes or names.is_temporary(engine_name):
        return None
    at = raw.get("timeNano")
    seconds = int(at) / 1e9 if at else float(raw.get("time") or time.time())
    return ContainerEvent(stack=str(stack), engine_name=engine_name, action=action, at=seconds)


__all__ = ["DRIFT_ACTIONS", "ContainerEvent", "EventStream", "event_of"]
