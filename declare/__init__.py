"""The desired state: the stack format, loading, variables, secrets and checks."""

from hostform.declare.errors import HostformError, Problem, StackError
from hostform.declare.load import LoadedStack, ResolvedFile, load
from hostform.declare.schema import ContainerSpec, JobSpec, Stack

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
