"""The desired state: the stack format, loading, variables, secrets and checks."""

from declare.errors import HostformError, Problem, StackError
from declare.load import LoadedStack, ResolvedFile, load
from declare.schema import ContainerSpec, JobSpec, Stack

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
