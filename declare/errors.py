"""The one error tree of hostform.

    HostformError                 every error a user can cause or meet
     ├── StackError               the stack file is invalid (carries every Problem found)
     ├── EngineError              the Docker engine refused or failed (runtime/), with its HTTP status
     │    ├── EngineUnreachable   no engine answers at the address (never swallowed)
     │    ├── NotFound            the engine has no such object (404)
     │    │    └── ImageMissing   image absent and pull policy forbids pulling
     │    ├── BuildFailed         an image build failed (names the step, its last output lines)
     │    ├── RegistryRefused     a registry wants credentials the Docker config lacks, or refuses them
     │    └── ConflictError       a name is taken by something else (409)
     ├── HostNetError             the host's network state cannot be read (runtime/hostnet)
     ├── PlanError                a saved plan is unreadable or stale (plans/)
     ├── LockError                another apply holds the stack's lock
     ├── SecretsFileError         an age-encrypted secrets file cannot be changed (hostform secrets)
     ├── GitError                 a repository the agent deploys from cannot be fetched or read
     └── ApplyError               an apply failed part way (says what was done)
          └── ApplyFailed         ... after its report was written (apply --json: the summary line)

Errors of the libraries underneath (pydantic, jinja2, docker-py, pyroute2) are
translated into this tree where they are raised; the CLI prints one line per
error (a traceback only with --debug).
"""

from __future__ import annotations

from hostform.declare.frozen import Frozen


class Problem(Frozen):
    """One thing wrong in a stack file, located as precisely as we can."""

    file: str
    key: str  # dotted key path, e.g. containers.web.ports[1]; "" for the whole file
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class HostformError(Exception):
    """Root of every error hostform reports to a user."""

    def lines(self) -> list[str]:
        return [str(self)]

    def located(self) -> list[Problem]:
        """The errors as records (a --json error document): file, line and key where known."""
        return [Problem(file="", key="", message=line) for line in self.lines()]


class StackError(HostformError):
    def __init__(self, problems: list[Problem]) -> None:
        self.problems = sorted(problems, key=lambda p: (p.file, p.line or 0, p.key))
        super().__init__("; ".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]

    def located(self) -> list[Problem]:
        return list(self.problems)


class EngineError(HostformError):
    """The engine refused or failed; `status` is its HTTP status code, when it answered."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class EngineUnreachable(EngineError):
    pass


class NotFound(EngineError):
    pass


class ImageMissing(NotFound):
    pass


class BuildFailed(EngineError):
    pass


class RegistryRefused(EngineError):
    pass


class ConflictError(EngineError):
    pass


class HostNetError(HostformError):
    pass


class PlanError(HostformError):
    pass


class LockError(HostformError):
    pass


class GitError(HostformError):
    pass


class ApplyError(HostformError):
    pass


class ApplyFailed(ApplyError):
    """An apply (destroy, drift --fix) that ran and did not converge, raised after its report
    was given: `apply --json` has already ended its event stream with the summary."""


class SecretsFileError(HostformError):
    """`hostform secrets set|edit` cannot change the file; the message never holds a value."""
