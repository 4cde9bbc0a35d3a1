"""Hard limits on untrusted work, and where one tripped.

Under `--untrusted` (and always for `import compose`) the whole of loading, rendering,
context hashing and planning runs in a child process with operating-system limits
(plans.confined): memory, CPU time, wall time and output. Two more limits are counted
here, in the reading itself: the number of resources a stack declares and the total
bytes of the files it reads (plain `Access` fields, so the operator sets them and the
stack cannot).

A limit that trips is a `LimitHit`, a BaseException: no `except Exception` of a
template filter or of a loader can turn it into an ordinary problem and go on.
Each layer it passes through that knows where it is (`located`) adds that, the
innermost first, so the one line printed says where it tripped.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

# The kinds of limit; plans.confined words each with its number and the flag that raises it.
MEMORY, CPU, WALL, OUTPUT, RESOURCES, READ = "memory", "cpu", "wall", "output", "resources", "read"


class LimitHit(BaseException):
    """A hard limit was exceeded. `kind`: which (MEMORY, READ...); `where`: what was being done
    ("rendering containers.web.env.A"); `detail`: what was found ("1500 declared")."""

    def __init__(self, kind: str, where: str = "", detail: str = "") -> None:
        super().__init__(kind)
        self.kind, self.where, self.detail = kind, where, detail

    def at(self, where: str) -> LimitHit:
        """Itself, with `where` when no inner layer said a more precise one."""
        if not self.where:
            self.where = where
        return self

    def line(self, subject: str, limit: str) -> str:
        """`untrusted stack exceeded 512 MiB of memory while rendering containers.web.env.A`."""
        text = f"{subject} exceeded {limit}"
        text += f" ({self.detail})" if self.detail else ""
        return text + (f" while {self.where}" if self.where else "")


@contextmanager
def located(where: str) -> Iterator[None]:
    """Inside: a MemoryError or a LimitHit is reported as having tripped at `where`."""
    try:
        yield
    except MemoryError:
        raise LimitHit(MEMORY, where) from None
    except LimitHit as hit:
        raise hit.at(where) from None


class ReadMeter:
    """The bytes of files read so far in one run, against a total (None: no total)."""

    __slots__ = ("limit", "total")

    def __init__(self, limit: int | None) -> None:
        self.limit, self.total = limit, 0

    def add(self, size: int) -> None:
        self.total += size
        if self.limit is not None and self.total > self.limit:
            raise LimitHit(READ)
