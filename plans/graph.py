"""The action graph: which changes must finish before another starts (a pure function of the plan)."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence

from hostform.declare import names
from hostform.declare.spec import ContainerSpec
from hostform.plans.model import Action, Change


def action_edges(changes: Iterable[Change], services: Mapping[str, ContainerSpec]) -> dict[str, set[str]]:
    """address -> addresses that must finish first.

    A container or job waits for the networks and volumes it uses and for what it depends on,
    when those change too (an unchanged dependency is not in the graph: the action itself waits
    for its condition). Replicas are replaced one after another (a rolling update)."""
    changes = list(changes)
    by_service: dict[str, list[str]] = {}
    for c in changes:
        by_service.setdefault(c.name if c.is_service else f"{c.kind}:{c.name}", []).append(c.address)
    edges: dict[str, set[str]] = {c.address: set() for c in changes}
    for c in changes:
        if not c.is_service:
            continue
        spec = services[c.name]
        needs = [f"network:{a.name}" for a in spec.networks] or [f"network:{names.DEFAULT_NETWORK}"]
        needs += [f"volume:{m.source}" for m in spec.volumes if m.type == "volume"]
        needs += list(spec.depends_on)
        for need in needs:
            edges[c.address].update(by_service.get(need, []))
    # replicas are replaced one after another: the others keep serving
    rolling: dict[str, list[Change]] = {}
    for c in changes:
        if c.is_service and c.action is Action.REPLACE:
            rolling.setdefault(c.name, []).append(c)
    for group in rolling.values():
        group.sort(key=lambda c: c.replica)
        for before, after in zip(group, group[1:], strict=False):
            edges[after.address].add(before.address)
    return edges


def in_apply_order(changes: Sequence[Change], services: Mapping[str, ContainerSpec]) -> list[Change]:
    """Declared changes (no deletions: they run last, on their own) in an order the applier's walk
    runs them: each after what it waits for in action_edges, otherwise as given. So what a plan
    lists first is what apply does first (a job before the container that waits for it)."""
    index = {c.address: i for i, c in enumerate(changes)}
    edges = action_edges(changes, services)
    waits = {index[a]: len(needs) for a, needs in edges.items()}
    dependents: dict[int, list[int]] = {}
    for address, needs in edges.items():
        for need in needs:
            dependents.setdefault(index[need], []).append(index[address])
    ready = [i for i, n in waits.items() if n == 0]
    heapq.heapify(ready)
    out: list[Change] = []
    while ready:
        i = heapq.heappop(ready)
        out.append(changes[i])
        for j in dependents.get(i, ()):
            waits[j] -= 1
            if waits[j] == 0:
                heapq.heappush(ready, j)
    listed = {id(c) for c in out}
    return out + [c for c in changes if id(c) not in listed]  # a cycle (refused at load): as given
