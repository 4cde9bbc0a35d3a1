"""Untrusted work in a child process with hard limits that nothing in the input can get around.

`plan`, `validate` and `show` under `--untrusted`, and `import compose` always, run their
whole pipeline (loading, rendering, context hashing, planning, printing) in a forked child:

- memory: RLIMIT_DATA (heap and every private writable mapping: a string Jinja2 builds, a
  list, a thread's stack), so an allocation past it fails at once with a MemoryError;
- CPU time: RLIMIT_CPU (SIGXCPU at the limit, SIGKILL two seconds later);
- wall time: the parent asks the child to stop (SIGUSR1), then kills it;
- output: the parent reads the child's standard output and error, holding them back until it
  ends, and kills it past the limit.

The resource count and the bytes of files read are counted while loading (declare.access).
A limit that trips is one error line, naming it and where it tripped; nothing the child
printed before is shown. The trusted path never forks: it keeps its speed.
"""

from __future__ import annotations

import io
import os
import resource
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable

from hostform.declare.bounds import CPU, MEMORY, OUTPUT, READ, RESOURCES, WALL, LimitHit
from hostform.plans.escape import for_terminal
from hostform.plans.options import LimitOptions

GRACE = 2.0  # seconds between asking the child to stop and killing it
_FLAGS = {
    MEMORY: "--max-memory",
    CPU: "--max-cpu",
    WALL: "--max-seconds",
    OUTPUT: "--max-output",
    RESOURCES: "--max-resources",
    READ: "--max-read",
}


def limit_text(limits: LimitOptions, kind: str) -> str:
    """The limit `kind` as a phrase: `512 MiB of memory`."""
    return {
        MEMORY: f"{limits.max_memory} MiB of memory",
        CPU: f"{limits.max_cpu} s of CPU time",
        WALL: f"{limits.max_seconds} s of wall time",
        OUTPUT: f"{limits.max_output} MiB of output",
        RESOURCES: f"{limits.max_resources} resources",
        READ: f"{limits.max_read} MiB of files read",
    }[kind]


def hit_line(hit: LimitHit, limits: LimitOptions, subject: str) -> str:
    flag = _FLAGS.get(hit.kind)
    raise_with = f" (the operator can raise it with {flag})" if flag else ""
    return hit.line(subject, limit_text(limits, hit.kind)) + raise_with


def run_confined(work: Callable[[], int], limits: LimitOptions, subject: str) -> int:
    """work() in a child under `limits`; its exit code, its output replayed, or one error line."""
    sys.stdout.flush()
    sys.stderr.flush()
    terminal = _terminal_size()
    pipes = [os.pipe() for _ in range(3)]  # stdout, stderr, the limit that tripped
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns (coverage does not see it)
        if terminal is not None:  # what it prints reaches the terminal: in colour, at its width
            os.environ["FORCE_COLOR"] = "1"
            if terminal > 0:  # a terminal whose size was never set says 0
                os.environ["COLUMNS"] = str(terminal)
        _child(work, limits, subject, pipes)
    for _, write_end in pipes:
        os.close(write_end)
    return _parent(pid, [r for r, _ in pipes], limits, subject)


def _terminal_size() -> int | None:
    """The columns of the terminal standard output is, None when it is not one."""
    try:
        return os.get_terminal_size(sys.stdout.fileno()).columns if sys.stdout.isatty() else None
    except (OSError, ValueError, AttributeError):
        return None


# ---------------------------------------------------------------- the child


def _child(work: Callable[[], int], limits: LimitOptions, subject: str, pipes: list[tuple[int, int]]) -> None:
    code = 1
    try:
        for read_end, _ in pipes:
            os.close(read_end)
        os.dup2(pipes[0][1], 1)
        os.dup2(pipes[1][1], 2)
        sys.stdout, sys.stderr = _text_out(1), _text_out(2)  # whatever they were (a test's capture): the pipes
        status = pipes[2][1]
        _set_limits(limits)
        signal.signal(signal.SIGXCPU, _raiser(CPU))
        signal.signal(signal.SIGUSR1, _raiser(WALL))
        try:
            code = work()
        except LimitHit as hit:
            os.write(status, hit_line(hit, limits, subject).encode("utf-8", "replace"))
        except MemoryError:
            os.write(status, hit_line(LimitHit(MEMORY), limits, subject).encode())
        except SystemExit as done:
            code = done.code if isinstance(done.code, int) else 1
        except BaseException:  # noqa: BLE001 - shown as Python would (a bug, or --debug)
            traceback.print_exc()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:  # whatever happens, the child ends here, never in the caller's code
        os._exit(code)


def _text_out(fd: int) -> io.TextIOWrapper:
    return io.TextIOWrapper(io.FileIO(fd, "w", closefd=False), encoding="utf-8", errors="backslashreplace")


def _set_limits(limits: LimitOptions) -> None:
    memory = limits.max_memory << 20
    resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.max_cpu, limits.max_cpu + 2))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _raiser(kind: str) -> Callable[[int, object], None]:
    def handler(signum: int, frame: object) -> None:
        raise LimitHit(kind)

    return handler


# ---------------------------------------------------------------- the parent


class _Collected:
    """The child's output, held back until it ends; what tripped on this side."""

    def __init__(self, fds: list[int], limit: int) -> None:
        self.open = list(fds)
        self.data: dict[int, list[bytes]] = {fd: [] for fd in fds}
        self.size, self.limit = 0, limit
        self.tripped = ""

    def read(self, timeout: float) -> None:
        ready, _, _ = select.select(self.open, [], [], max(timeout, 0.0))
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                self.open.remove(fd)
                os.close(fd)
                continue
            self.size += len(chunk)
            if self.size > self.limit:
                self.tripped = self.tripped or OUTPUT
            else:
                self.data[fd].append(chunk)

    def text(self, fd: int) -> bytes:
        return b"".join(self.data[fd])


def _parent(pid: int, fds: list[int], limits: LimitOptions, subject: str) -> int:
    out, err, status = fds
    got = _Collected(fds, limits.max_output << 20)
    deadline = time.monotonic() + limits.max_seconds
    asked = 0.0
    try:
        while got.open:
            now = time.monotonic()
            if got.tripped == OUTPUT or (asked and now > asked + GRACE):
                os.kill(pid, signal.SIGKILL)
                break
            if now > deadline and not asked:
                got.tripped, asked = WALL, now
                os.kill(pid, signal.SIGUSR1)
            got.read(min(deadline - now if not asked else GRACE, 0.5))
    except KeyboardInterrupt:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        print("interrupted", file=sys.stderr)
        return 130
    for fd in got.open:  # left open when the child was killed
        os.close(fd)
    _, wait_status, usage = os.wait4(pid, 0)
    return _outcome(got, out, err, status, wait_status, usage, limits, subject)


def _outcome(
    got: _Collected,
    out: int,
    err: int,
    status: int,
    wait_status: int,
    usage: resource.struct_rusage,
    limits: LimitOptions,
    subject: str,
) -> int:
    tripped = got.text(status).decode("utf-8", "replace") if status in got.data else ""
    if not tripped and got.tripped:
        tripped = hit_line(LimitHit(got.tripped), limits, subject)
    if not tripped and os.WIFSIGNALED(wait_status):
        tripped = _killed(os.WTERMSIG(wait_status), usage, limits, subject)
    if tripped:
        print(for_terminal(f"error: {tripped}"), file=sys.stderr)
        return 1
    sys.stdout.write(got.text(out).decode("utf-8", "replace"))
    sys.stdout.flush()
    sys.stderr.write(got.text(err).decode("utf-8", "replace"))
    sys.stderr.flush()
    return os.waitstatus_to_exitcode(wait_status)


def _killed(signum: int, usage: resource.struct_rusage, limits: LimitOptions, subject: str) -> str:
    """What a child killed by a signal ran into."""
    if signum in (signal.SIGXCPU, signal.SIGKILL) and usage.ru_utime + usage.ru_stime >= limits.max_cpu:
        return hit_line(LimitHit(CPU), limits, subject)
    return f"{subject}: the work ended on signal {signal.Signals(signum).name}"
