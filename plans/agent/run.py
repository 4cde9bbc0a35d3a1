"""`hostform agent agent.toml`: the threads of the agent and their stop.

    sync     every `interval` (and at once on a webhook, and when a failed stack's back-off is
             over): each source in turn, its due stacks `parallelism` at a time (plans.agent.sync)
    events   the engine's event stream -> the healer's queue (runtime.events)
    heal     drift checks and fixes (plans.agent.heal)
    http     /, /status, /metrics, /hooks/git (plans.agent.server)

SIGTERM or SIGINT: no new sync or heal starts; the apply in flight finishes (and is recorded),
then the agent exits 0.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from hostform.declare.agent_config import AgentConfig, default_cache, load_agent_config
from hostform.declare.errors import HostformError
from hostform.plans.agent.guards import Guards
from hostform.plans.agent.heal import Healer
from hostform.plans.agent.metrics import Metrics
from hostform.plans.agent.notify import Notifier
from hostform.plans.agent.server import Site, make_server, serve
from hostform.plans.agent.status import Board
from hostform.plans.agent.sync import SourceSync
from hostform.runtime.engine import Engine
from hostform.runtime.events import EventStream
from hostform.runtime.git import RepositoryCache, repository_address, shown_url


class Agent:
    def __init__(self, config: AgentConfig, base: Path, secrets: dict[str, bytes]) -> None:
        self.config = config
        self.board = Board()
        self.guards = Guards()
        self.metrics = Metrics()
        self.notify = Notifier(config.notify.webhook, config.notify.timeout)
        self.stopping = threading.Event()
        cache = Path(config.cache) if config.cache else default_cache()
        cache = cache if cache.is_absolute() else base / cache
        self.syncs: dict[str, SourceSync] = {}
        for source in config.sources:
            repo = RepositoryCache(repository_address(source.repo, base), source.branch, cache / source.shown_name)
            sync = SourceSync(config, source, repo, self.board, self.guards, self.metrics, self.notify)
            sync.signers = (base / source.allowed_signers) if source.allowed_signers else None
            sync.stopping = self.stopping
            self.syncs[source.shown_name] = sync
        self.healer = Healer(
            self.board, self.syncs, self.guards, self.metrics, self.notify, config.heal_debounce, config.backoff_max
        )
        self.site = Site(self.board, self.metrics, secrets, self.trigger, self.sources, config.max_body)
        self.server = make_server(config.address, self.site)
        self._wake = threading.Event()
        self._requested: set[str] = set(self.syncs)  # the first sync: every source
        self._lock = threading.Lock()
        self._events = EventStream(Engine())
        self._threads: list[threading.Thread] = []

    # ------------------------------------------------------------ what the server asks

    def trigger(self, sources: list[str]) -> None:
        with self._lock:
            self._requested.update(sources)
        self._wake.set()

    def sources(self) -> list[dict[str, Any]]:
        return [
            {
                "name": name,
                "repo": shown_url(s.source.repo),
                "branch": s.source.branch,
                "mode": s.source.mode,
                "commit": s.commit,
                "last_sync_at": s.synced_at,
                "error": s.error.message,
                "error_at": s.error.at,
            }
            for name, s in self.syncs.items()
        ]

    # ------------------------------------------------------------ threads

    def start(self) -> None:
        self._threads = [
            serve(self.server),
            self._thread("hostform-sync", self._sync_loop),
            self._thread("hostform-heal", self.healer.run),
            self._thread("hostform-events", lambda: self._events.run(self.healer.on_event, self._log)),
        ]

    def _thread(self, name: str, target: Any) -> threading.Thread:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        return thread

    def _sync_loop(self) -> None:
        next_poll = time.monotonic()
        while not self.stopping.is_set():
            now = time.monotonic()
            if now >= next_poll:
                self.trigger(list(self.syncs))
                next_poll = now + self.config.interval
            with self._lock:
                due = [n for n in self.syncs if n in self._requested or self._retry_due(n, now)]
                self._requested.clear()
                self._wake.clear()
            for name in due:
                if self.stopping.is_set():
                    return
                try:
                    self.syncs[name].sync()
                except Exception:  # a bug must not end the sync thread: the next poll tries again
                    traceback.print_exc()
            retries = [r for r in (s.next_retry() for s in self.syncs.values()) if r is not None]
            until = min([next_poll, *retries]) - time.monotonic()
            self._wake.wait(max(0.05, until))

    def _retry_due(self, name: str, now: float) -> bool:
        retry = self.syncs[name].next_retry()
        return retry is not None and retry <= now

    def _log(self, message: str) -> None:
        print(f"agent: {message}", file=sys.stderr)

    def stop(self) -> None:
        """No new work; the sync in flight finishes (its applies are recorded), then everything stops."""
        self.stopping.set()
        self._wake.set()
        self.healer.stop()
        self._events.close()
        for thread in self._threads[1:3]:  # the sync and the heal: their operation in flight ends first
            thread.join()
        self.server.shutdown()
        self.server.server_close()
        self.notify.close()


def webhook_secrets(config: AgentConfig) -> dict[str, bytes]:
    """Each source's webhook secret from the environment; a named variable that is unset is an error."""
    secrets = {}
    for source in config.sources:
        if source.webhook_secret_env is None:
            continue
        value = os.environ.get(source.webhook_secret_env)
        if not value:
            raise HostformError(
                f"sources {source.shown_name!r}: webhook_secret_env names {source.webhook_secret_env!r}, "
                "which is not set (or empty) in the environment"
            )
        secrets[source.shown_name] = value.encode()
    return secrets


def cmd_agent(config_path: str) -> int:
    config = load_agent_config(config_path)
    secrets = webhook_secrets(config)
    Engine().ping()
    try:
        agent = Agent(config, Path(config_path).resolve().parent, secrets)
    except OSError as exc:
        raise HostformError(f"cannot listen on {config.listen}: {exc.strerror or exc}") from None
    stop = threading.Event()

    def stopped(signum: int, frame: object) -> None:
        if not stop.is_set():
            print(f"agent: {signal.Signals(signum).name}: finishing what is in flight, then exiting", file=sys.stderr)
        stop.set()

    previous = {sig: signal.signal(sig, stopped) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        agent.start()
        host, port = agent.server.server_address[:2]
        print(f"agent: listening on http://{host!s}:{port}/", file=sys.stderr, flush=True)
        while not stop.wait(3600):
            pass
        agent.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("agent: stopped", file=sys.stderr)
    return 0


__all__ = ["Agent", "cmd_agent", "webhook_secrets"]
