"""The desired state: the stack format, loading, variables, secrets and checks.

The names below are loaded on first use (PEP 562): importing `hostform.declare.errors`, as
every command does at start, must not build the pydantic models (`hostform --version`)."""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hostform.declare.errors import HostformError, Problem, StackError
    from hostform.declare.load import LoadedStack, ResolvedFile, load
    from hostform.declare.spec import ContainerSpec, JobSpec, Stack

_WHERE = {
    "HostformError": "errors",
    "Problem": "errors",
    "StackError": "errors",
    "LoadedStack": "load",
    "ResolvedFile": "load",
    "load": "load",
    "ContainerSpec": "spec",
    "JobSpec": "spec",
    "Stack": "spec",
}

__all__ = [
    "ContainerSpec",
    "HostformError",
    "JobSpec",
    "LoadedStack",
    "Problem",
    "ResolvedFile",
    "Stack",
    "StackError",
    "load",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"hostform.declare.{_WHERE[name]}"), name)
