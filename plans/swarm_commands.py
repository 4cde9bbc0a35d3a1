"""The stages of plan, apply, destroy and drift when the stack's target is Swarm.

The commands (plans/commands.py) keep their pipeline; these stages take the place of observe
and plan there, so that rendering, confirming, the lock and reporting stay one code path.
"""

from __future__ import annotations

import os
from dataclasses import replace

from hostform.declare.errors import HostformError
from hostform.declare.load import LoadedStack
from hostform.declare.names import Kind
from hostform.plans.diff import PlanOptions, hand_made_warning
from hostform.plans.model import Action, Change, Plan, PlanMode, Reason, ReasonKind
from hostform.plans.swarm_plan import swarm_plan
from hostform.runtime.engine import Engine
from hostform.runtime.swarm import SwarmObserved, observe_swarm, require_manager


def connect(engine: Engine, check: bool = True) -> None:
    """`check`: ask the engine whether it is a manager now; else the first observation asks,
    along with its other reads (a plan: one round trip less)."""
    engine.swarm = True
    if check:
        require_manager(engine)


def stage_observe(
    engine: Engine, loaded: LoadedStack, for_drift: bool = True, check_manager: bool = False, with_lock: bool = False
) -> SwarmObserved:
    services = loaded.stack.services().values()
    images = [s.image for s in services]
    scheduled = any(s.placement is not None or s.reservations is not None for s in services)
    observed = observe_swarm(
        engine,
        loaded.name,
        images,
        with_tasks=for_drift,
        with_nodes=for_drift or scheduled,
        check_manager=check_manager,
        with_lock=with_lock,
    )
    if not loaded.builds:
        return observed
    from hostform.runtime.build_context import context_changes

    changes = context_changes(loaded.builds, ((s.name, s.last_applied) for s in observed.services))
    return replace(observed, build_changes=changes)


def plan_of(loaded: LoadedStack, observed: SwarmObserved, options: PlanOptions | None = None) -> Plan:
    """--replace names services: Swarm replaces a service's tasks together, never one replica."""
    options = options or PlanOptions()
    one = [r for r in options.replace if "[" in r]
    if one:
        raise HostformError(
            f"--replace {one[0]}: on Swarm a service's tasks are replaced together (a rolling update): "
            f"name the service ({one[0].partition('[')[0]})"
        )
    return swarm_plan(loaded, observed, observed.key or os.urandom(16), options)


def destroy_plan(engine: Engine, stack: str) -> Plan:
    """Every service, config, secret and overlay network carrying the stack's label; never a volume
    (a named volume lives on each node: hostform leaves them, data and all)."""
    return destroy_plan_of(stack, observe_swarm(engine, stack, [], with_tasks=False))


def destroy_plan_of(stack: str, live: SwarmObserved) -> Plan:
    """The destroy plan from what the manager lists (a plan in DESTROY mode, as on one host)."""
    unrecorded = live.hand_made  # nothing is declared any more: every object no generation lists
    observed = replace(
        live,
        services=tuple(s for s in live.services if not live.unrecorded(s.engine_name)),
        files=tuple(f for f in live.files if not live.unrecorded(f.engine_name)),
        networks=tuple(n for n in live.networks if not live.unrecorded(n.engine_name)),
    )
    reason = (Reason(ReasonKind.ORPHAN, text="destroy"),)
    changes = [
        Change(
            f"{'jobs' if s.kind == 'job' else 'containers'}.{s.name}",
            Kind(s.kind),
            s.name,
            s.engine_name,
            Action.DELETE,
            reason,
            current_id=s.id,
        )
        for s in observed.services
    ]
    changes += [
        Change(f"files.{f.name}", Kind(f.kind), f.name, f.engine_name, Action.DELETE, reason, current_id=f.id)
        for f in observed.files
    ]
    changes += [
        Change(f"networks.{n.name}", Kind.NETWORK, n.name, n.engine_name, Action.DELETE, reason, current_id=n.id)
        for n in observed.networks
    ]
    warnings = [hand_made_warning(stack, k, n) for k, n in unrecorded]
    warnings.append("named volumes stay on the nodes that made them (hostform never removes them on Swarm)")
    return Plan(
        stack,
        tuple(changes),
        live.fingerprint(),
        (),
        tuple(warnings),
        live.tokens(),
        live.key or b"",
        mode=PlanMode.DESTROY,
    )
