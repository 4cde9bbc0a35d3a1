"""The agent's Prometheus metrics (prometheus_client, in a registry of the agent's own)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.syncs = Counter("hostform_agent_syncs", "Syncs of a source", ["source"], registry=r)
        self.applies = Counter("hostform_agent_applies", "Applies that changed something", ["stack"], registry=r)
        self.failures = Counter("hostform_agent_failures", "Failed syncs, applies, heals", ["stack"], registry=r)
        self.heals = Counter("hostform_agent_heals", "Drift fixed by the agent", ["stack"], registry=r)
        self.drift = Gauge("hostform_agent_drift_findings", "Drift findings at the last check", ["stack"], registry=r)
        self.last_sync = Gauge(
            "hostform_agent_last_successful_sync_timestamp_seconds",
            "When a source was last synced without error (seconds since the epoch)",
            ["source"],
            registry=r,
        )
        self.apply_seconds = Histogram(
            "hostform_agent_apply_duration_seconds",
            "How long an apply of a stack took",
            ["stack"],
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600),
            registry=r,
        )
        self.state = Gauge("hostform_agent_stack_state", "1 for the stack's state", ["stack", "state"], registry=r)

    def render(self) -> bytes:
        data: bytes = generate_latest(self.registry)
        return data


__all__ = ["CONTENT_TYPE", "Metrics"]
