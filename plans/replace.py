"""Replacing a running container, in one of two orders, and putting the old one back when the new
one is not ready.

- stop-first (`-/+`): the old container stops, the new one starts under a temporary name and takes
  the name once ready; a moment of downtime, and no two copies running at once.
- start-first (`+/-`): the new one starts beside the old one without the service aliases, gets
  them once ready, then the old one leaves its networks and stops; no downtime.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from hostform.declare import names
from hostform.declare.errors import ApplyError, HostformError
from hostform.declare.load import LoadedStack
from hostform.declare.names import Condition
from hostform.plans import routing
from hostform.plans.model import Change
from hostform.runtime import actions
from hostform.runtime.engine import Engine
from hostform.runtime.state import read_state
from hostform.runtime.waiting import health_budget, require, wait_for

NewContainer = Callable[[Change, str, bool], str]  # (change, engine name, announce) -> its ID, created
Attach = Callable[[str], None]  # a ready container (its ID) serves the change's route through the edge proxy
Say = Callable[[str], None]  # a line of progress while the replacement runs


def stopping(engine_name: str, grace_ns: int) -> str:
    """Said before a stop that may wait out the grace period: the wait is not a hang."""
    from hostform.declare.units import format_duration

    return f"stopping old {engine_name} (grace {format_duration(grace_ns)})"


def stop_first(
    engine: Engine,
    loaded: LoadedStack,
    change: Change,
    old: str,
    create: NewContainer,
    abort: threading.Event,
    attach: Attach | None = None,
    say: Say = lambda line: None,
) -> None:
    spec = loaded.stack.services()[change.name]
    new = create(change, names.temp_name(change.engine_name, names.TEMP_NEW), True)
    state = read_state(engine, old)
    was_running = state is not None and state.running
    if was_running:
        say(stopping(change.engine_name, spec.stop_grace_period))
    if attach is not None:
        routing.retire_if_routed(engine, loaded.name, change.name, old, spec.stop_grace_period)
    engine.stop(old, timeout=spec.stop_grace_period // 10**9)
    engine.rename(old, names.temp_name(change.engine_name, names.TEMP_OLD))
    try:
        engine.start(new)
        require(wait_for(engine, new, Condition.READY, health_budget(spec), abort), f"new {change.engine_name}")
        if attach is not None:
            attach(new)
    except HostformError as exc:
        rollback(engine, change, old, new, was_running)
        if attach is not None and was_running:
            attach(old)
        raise ApplyError(f"{exc}; rolled back: the old container {change.engine_name} is back") from None
    engine.remove_container(old)
    engine.rename(new, change.engine_name)


def start_first(
    engine: Engine,
    loaded: LoadedStack,
    change: Change,
    old: str,
    create: NewContainer,
    abort: threading.Event,
    attach: Attach | None = None,
    say: Say = lambda line: None,
) -> None:
    """With a route (`attach`), the proxy switches: the new container is added once ready, the old
    one drained (its requests in flight finish, up to stop_grace_period) and deleted from the proxy
    before it stops. Without one, `update.drain` keeps both answering the service's name a while."""
    spec = loaded.stack.services()[change.name]
    # unannounced until ready: the old one alone answers the service name meanwhile
    new = create(change, names.temp_name(change.engine_name, names.TEMP_NEW), False)
    try:
        engine.start(new)
        require(wait_for(engine, new, Condition.READY, health_budget(spec), abort), f"new {change.engine_name}")
        actions.announce(engine, loaded, change.name, new)
        if attach is not None:
            attach(new)
    except HostformError as exc:
        routing.retire_if_routed(engine, loaded.name, change.name, new, 0)
        engine.remove_container(new)
        raise ApplyError(f"{exc}; the old container {change.engine_name} keeps serving") from None
    say(stopping(change.engine_name, spec.stop_grace_period))  # its drain and its stop may take that long
    if attach is not None:
        routing.retire_if_routed(engine, loaded.name, change.name, old, spec.stop_grace_period)
    elif spec.update.drain:
        abort.wait(spec.update.drain / 10**9)  # both answer the name; clients holding the old address finish
    out_of_service(engine, old)
    actions.stop_and_remove(engine, old, spec.stop_grace_period)
    engine.rename(new, change.engine_name)


def out_of_service(engine: Engine, ident: str) -> None:
    """Off its networks first: name lookups stop returning it before it stops answering."""
    state = read_state(engine, ident)
    for net in state.networks if state else {}:
        engine.disconnect(ident, net)


def rollback(engine: Engine, change: Change, old: str, new: str, was_running: bool) -> None:
    """The new container removed, the old one back under its name (and started if it ran)."""
    engine.remove_container(new)
    engine.rename(old, change.engine_name)
    if was_running:
        engine.start(old)
