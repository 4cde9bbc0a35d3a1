"""Syncing one source: fetch its branch, find its stack files, and deploy each one whose folder
changed (or that was never synced, or whose failure's back-off is over); stacks that left the
repository are destroyed (volumes kept) with prune, else left running and reported.

A stack is deployed from a clean checkout of the commit, so its record names that commit. One
failing stack never blocks the others (each is deployed on its own, `parallelism` at a time);
a commit whose stack file does not validate changes nothing on the host: the stack keeps running
what the previous commit applied, and its state says why.
"""

from __future__ import annotations

import contextlib
import json
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from hostform.declare.agent_config import MIN_INTERVAL, AgentConfig, Source
from hostform.declare.errors import HostformError
from hostform.declare.secrets import mask_secrets
from hostform.plans.agent import deploy
from hostform.plans.agent.guards import Guards
from hostform.plans.agent.metrics import Metrics
from hostform.plans.agent.notify import Notifier
from hostform.plans.agent.status import Board, StackStatus, State
from hostform.runtime.git import RepositoryCache, glob_matches

STATE_FILE = "deployed.json"  # per source: the stacks applied, so a restarted agent can still prune


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_text(exc: HostformError) -> str:
    return mask_secrets("; ".join(exc.lines()))


@dataclass
class SourceError:
    message: str | None = None
    at: str | None = None


class SourceSync:
    def __init__(
        self,
        config: AgentConfig,
        source: Source,
        cache: RepositoryCache,
        board: Board,
        guards: Guards,
        metrics: Metrics,
        notify: Notifier,
    ) -> None:
        self.config = config
        self.source = source
        self.name = source.shown_name
        self.cache = cache
        self.board = board
        self.guards = guards
        self.metrics = metrics
        self.notify = notify
        self.error = SourceError()
        self.commit: str | None = None
        self.synced_at: str | None = None
        self.signers: Path | None = None  # the allowed-signers file, resolved by the agent
        self.stopping = threading.Event()  # the agent's: set on SIGTERM
        self._saving = threading.Lock()
        self._restore()

    # ------------------------------------------------------------ one sync

    def sync(self) -> None:
        try:
            commit = self.cache.fetch()
            if self.signers is not None:
                self.cache.verify(commit, self.signers)
            paths = sorted(p for p in self.cache.files(commit) if any(glob_matches(g, p) for g in self.source.stacks))
            root = self.cache.worktree(commit)
        except HostformError as exc:
            self._source_failed(error_text(exc))
            return
        self.commit = commit
        due = [s for s in (self._look(commit, p) for p in paths) if self._due(s)]
        if due:
            with ThreadPoolExecutor(max_workers=self.config.parallelism, thread_name_prefix="hostform-deploy") as pool:
                list(pool.map(lambda s: self._deploy(s, root, commit), due))
        for gone in [s for s in self.board.of_source(self.name) if s.path not in paths and not s.removed]:
            self._removed(gone)
        self._tidy(commit)
        self.error = SourceError()
        self.synced_at = now_text()
        self.metrics.syncs.labels(self.name).inc()
        self.metrics.last_sync.labels(self.name).set(time.time())

    def next_retry(self) -> float | None:
        """The monotonic time of the earliest retry of a failed stack, if any."""
        times = [s.retry_at for s in self.board.of_source(self.name) if s.state is State.FAILED and not s.removed]
        return min(times, default=None)

    def _look(self, commit: str, path: str) -> StackStatus:
        tree = self.cache.tree_of(commit, str(PurePosixPath(path).parent))
        return self.board.update(self.name, path, commit=commit, tree=tree, removed=False)

    def _due(self, s: StackStatus) -> bool:
        if s.state is State.APPLYING:
            return False
        if s.state is State.FAILED:
            return s.tree != s.failed_tree or time.monotonic() >= s.retry_at
        return s.synced_tree is None or s.tree != s.synced_tree

    # ------------------------------------------------------------ one stack

    def _deploy(self, s: StackStatus, root: Path, commit: str) -> None:
        if self.stopping.is_set():
            return  # SIGTERM: the applies in flight finish, no new one starts
        with self.guards.hold(self._key(s)):
            self.show_state(self.board.update(self.name, s.path, state=State.APPLYING))
            try:
                op = deploy.deploy(root / s.path, self.source.mode)
            except HostformError as exc:
                self._failed(s, error_text(exc))
                return
            except Exception as exc:  # a bug must not stop the other stacks' syncs: reported as the stack's failure
                self._failed(s, f"internal error: {type(exc).__name__}: {exc}")
                traceback.print_exc()
                return
            pending = self.source.mode == "plan" and op.changed
            changes: dict[str, Any] = {
                "name": op.name,
                "state": State.PENDING if pending else State.SYNCED,
                "last_plan": op.plan_text,
                "log": tuple(op.events),
                "failures": 0,
                "synced_tree": s.tree,
                "last_sync_at": now_text(),
                "drift": (),
            }
            if not pending:
                changes["applied_commit"] = commit  # the host holds what this commit's file says
            changes.update(self.record_of(root / s.path, op.name))  # with the state: /status is never half new
            now = self.board.update(self.name, s.path, **changes)
            self._after(now, op, pending)

    def _after(self, s: StackStatus, op: deploy.Operation, pending: bool) -> None:
        self.show_state(s)
        self.metrics.drift.labels(s.name).set(0)
        self._save()
        if op.changed and not pending:
            self.metrics.applies.labels(s.name).inc()
            self.metrics.apply_seconds.labels(s.name).observe(op.seconds)
            counts = op.plan.counts() if op.plan is not None else {}
            self.notify("apply", s.name, self.name, f"applied commit {s.commit}", commit=s.commit, summary=counts)

    def record_of(self, path: Path, name: str) -> dict[str, Any]:
        """The record's newest generation and history (status fields), read as `hostform history` reads them."""
        try:
            generation, history = deploy.record(path)
        except HostformError as exc:
            print(f"agent: cannot read the record of {name}: {error_text(exc)}", file=sys.stderr)
            return {}
        return {"generation": generation, "history": history}

    def _failed(self, s: StackStatus, message: str) -> None:
        failures = s.failures + 1
        base = max(MIN_INTERVAL, self.config.interval / 8)
        delay = min(self.config.backoff_max, base * 2 ** (failures - 1))
        now = self.board.update(
            self.name,
            s.path,
            state=State.FAILED,
            last_error=message,
            last_error_at=now_text(),
            failures=failures,
            retry_at=time.monotonic() + delay,
            failed_tree=s.tree,
        )
        self.show_state(now)
        self.metrics.failures.labels(now.name or s.path).inc()
        print(f"agent: {self.name}/{s.path}: {message} (retry in {delay:g}s)", file=sys.stderr)
        self.notify("failure", now.name or s.path, self.name, message, commit=s.commit, path=s.path)

    def _removed(self, s: StackStatus) -> None:
        if s.applied_commit is None or not s.name:
            self.board.drop(self.name, s.path)  # never deployed: nothing runs
            return
        if not self.source.prune or self.source.mode != "apply":
            note = "its file left the repository; prune is off: what it runs stays, unmanaged by the agent"
            self.show_state(self.board.update(self.name, s.path, removed=True, state=State.PENDING, last_plan=note))
            return
        with self.guards.hold(self._key(s)):
            self.show_state(self.board.update(self.name, s.path, state=State.APPLYING))
            try:
                op = deploy.prune(self.cache.worktree(s.applied_commit) / s.path)
            except HostformError as exc:
                self._failed(s, error_text(exc))
                return
        self.board.drop(self.name, s.path)
        for state in State:
            with contextlib.suppress(KeyError):
                self.metrics.state.remove(s.name, state.value)
        self._save()
        self.notify("prune", s.name, self.name, f"destroyed: its file left the repository ({op.plan_text.strip()})")

    def _key(self, s: StackStatus) -> str:
        return f"{self.name}/{s.path}"

    def show_state(self, s: StackStatus) -> None:
        label = s.name or s.path
        for state in State:
            self.metrics.state.labels(label, state.value).set(1 if state is s.state else 0)

    def _source_failed(self, message: str) -> None:
        if message != self.error.message:
            self.notify("failure", "", self.name, message)
            print(f"agent: source {self.name}: {message}", file=sys.stderr)
        self.error = SourceError(message, now_text())

    # ------------------------------------------------------------ what survives a restart

    def _tidy(self, commit: str) -> None:
        keep = {commit} | {s.applied_commit for s in self.board.of_source(self.name) if s.applied_commit}
        self.cache.drop_worktrees(keep)

    def _save(self) -> None:
        applied = {
            s.path: {"name": s.name, "applied_commit": s.applied_commit}
            for s in self.board.of_source(self.name)
            if s.applied_commit and s.name
        }
        path = self.cache.folder / STATE_FILE
        temporary = path.with_suffix(".tmp")
        with self._saving:
            temporary.write_text(json.dumps(applied, indent=2, sort_keys=True))
            temporary.replace(path)

    def _restore(self) -> None:
        try:
            saved = json.loads((self.cache.folder / STATE_FILE).read_text())
        except (OSError, ValueError):
            return
        for path, entry in saved.items() if isinstance(saved, dict) else ():
            if isinstance(entry, dict) and isinstance(entry.get("name"), str) and isinstance(path, str):
                commit = entry.get("applied_commit")
                self.board.put(StackStatus(self.name, path, name=entry["name"], applied_commit=commit))


__all__ = ["SourceSync", "now_text"]
