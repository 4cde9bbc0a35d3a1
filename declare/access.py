"""What a stack may read from the host: files inside its own folder, declared variables.

A stack file may come from a stranger (a pull request planned by a pipeline), so
every file it names (`source`, `template`, `env_file`, `--var-file`) must resolve,
symlinks followed first, inside the stack's folder or a folder the operator allowed
(`--allow-path`, never the stack file itself). Only regular files are read: never a
device, a FIFO or a socket (`/dev/zero`, `/dev/stdin`). Under `--untrusted` a file
is also limited in size, and so is template rendering (see declare.template).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from hostform.declare.bounds import ReadMeter
from hostform.declare.frozen import Frozen

UNTRUSTED_ENV = "HOSTFORM_UNTRUSTED"
ALLOW_PATH_ENV = "HOSTFORM_ALLOW_PATH"  # folders, separated by os.pathsep
ALLOW_ENV_ENV = "HOSTFORM_ALLOW_ENV"  # variable names, separated by commas
MAX_FILE_BYTES = 1 << 20  # under --untrusted: any one file a stack reads
RENDER_SECONDS = 5.0  # under --untrusted: all template rendering of one load
MAX_RENDER_CHARS = 1 << 20  # any one rendered template
MAX_RESOURCES = 1000  # under --untrusted: resources one stack declares (--max-resources)
MAX_READ_BYTES = 64 << 20  # under --untrusted: all the files one run reads (--max-read)
NAME_MAX = 255  # bytes of one file or folder name (Linux, every common file system)
PATH_MAX = 4096  # bytes of a whole path, its terminating NUL included (Linux)
SHOWN_CHARS = 100  # a path longer than this is cut short in messages


class PathRefused(Exception):
    """A path the stack may not read; the message says why (the loader adds the key)."""


class Access(Frozen):
    """The operator's settings (command line or environment, never the stack file)."""

    allow_paths: tuple[Path, ...] = ()
    allow_env: frozenset[str] = frozenset()
    untrusted: bool = False
    max_file_bytes: int | None = None
    max_resources: int | None = None
    meter: ReadMeter | None = None  # the bytes read in this run, against their total

    @classmethod
    def from_options(
        cls,
        allow_paths: list[str] | tuple[str, ...] = (),
        allow_env: list[str] | tuple[str, ...] = (),
        untrusted: bool = False,
        max_resources: int = MAX_RESOURCES,
        max_read_bytes: int = MAX_READ_BYTES,
    ) -> Access:
        env_paths = [p for p in os.environ.get(ALLOW_PATH_ENV, "").split(os.pathsep) if p]
        env_names = [n.strip() for n in os.environ.get(ALLOW_ENV_ENV, "").split(",") if n.strip()]
        untrusted = untrusted or os.environ.get(UNTRUSTED_ENV, "") not in ("", "0")
        return cls(
            allow_paths=tuple(Path(os.path.realpath(p)) for p in [*allow_paths, *env_paths]),
            allow_env=frozenset([*allow_env, *env_names]),
            untrusted=untrusted,
            max_file_bytes=MAX_FILE_BYTES if untrusted else None,
            max_resources=max_resources if untrusted else None,
            meter=ReadMeter(max_read_bytes) if untrusted else None,
        )

    def roots(self, stack_dir: Path) -> tuple[Path, ...]:
        return (Path(os.path.realpath(stack_dir)), *self.allow_paths)

    def confine(self, stack_dir: Path, given: str | Path) -> Path:
        """`given` (relative to the stack's folder) resolved, symlinks first; refused outside the roots,
        and refused when no file system could hold it (too long, not encodable), so that whatever
        looks at the path next (stat, open) meets only "not there" or the file itself."""
        text = str(given)
        if "\x00" in text:
            raise PathRefused("the path holds a NUL character")
        check_shape(text, str(Path(stack_dir) / text))
        resolved = Path(os.path.realpath(Path(stack_dir) / os.path.expanduser(text)))
        check_shape(text, str(resolved))
        if not any(resolved == root or resolved.is_relative_to(root) for root in self.roots(stack_dir)):
            if self.untrusted:  # the path as written and why: never where it leads on this host
                raise PathRefused(
                    f"{shown_path(text)} {_why_outside(text)}: a stack reads only files under its own folder"
                )
            shown = (
                shown_path(text)
                if text == str(resolved)
                else f"{shown_path(text)} (resolves to {shown_path(str(resolved))})"
            )
            raise PathRefused(
                f"{shown} is outside the stack's folder: a stack reads only files under its own folder "
                "(the operator can allow more with --allow-path DIR)"
            )
        return resolved

    def read_bytes(self, stack_dir: Path, given: str | Path) -> bytes:
        """A regular file's bytes, confined; never a device, a FIFO or a socket; size-limited when untrusted."""
        data = read_regular(self.confine(stack_dir, given), self.max_file_bytes, str(given))
        if self.meter is not None:
            self.meter.add(len(data))
        return data

    def read_text(self, stack_dir: Path, given: str | Path) -> str:
        try:
            return self.read_bytes(stack_dir, given).decode("utf-8")
        except UnicodeDecodeError:
            raise PathRefused(f"{shown_path(str(given))} is not UTF-8 text") from None


def shown_path(text: str) -> str:
    """A path as a message quotes it: escaped, and cut short when long (one error, one line)."""
    quoted = repr(text)
    if len(quoted) <= SHOWN_CHARS:
        return quoted
    cut = 0
    while len(repr(text[: cut + 1])) <= SHOWN_CHARS - 20:  # escapes count as what they print
        cut += 1
    return f"{text[:cut]!r}... ({len(text)} characters)"


def check_shape(text: str, path: str) -> None:
    """Refuse a path the kernel would answer with ENAMETOOLONG, or one the file system's
    encoding cannot write; `text` is the path as the stack gives it (for the message)."""
    if "\x00" in path:
        raise PathRefused("the path holds a NUL character")
    try:
        encoded = os.fsencode(path)
    except UnicodeEncodeError:
        raise PathRefused(
            f"{shown_path(text)} cannot be written in the file system's encoding ({sys.getfilesystemencoding()})"
        ) from None
    if len(encoded) >= PATH_MAX:
        raise PathRefused(
            f"{shown_path(text)} is too long: {len(encoded)} bytes as a full path (at most {PATH_MAX - 1})"
        )
    longest = max(encoded.split(b"/"), key=len)
    if len(longest) > NAME_MAX:
        raise PathRefused(
            f"{shown_path(text)} holds a name of {len(longest)} bytes (at most {NAME_MAX} for one file or folder name)"
        )


def kind_of(path: Path) -> str | None:
    """ "folder", "file" or "other" for what `path` names (symlinks followed); None when nothing
    can be found there, whatever the reason (missing, not searchable, a loop of links)."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return None
    return "folder" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "other"


def _why_outside(text: str) -> str:
    """Why a path written in a stack leaves its folder, from the text alone."""
    if text.startswith("~"):
        return "names a home folder"
    if os.path.isabs(text):
        return "is an absolute path outside the stack's folder"
    if ".." in Path(text).parts:
        return "climbs out of the stack's folder"
    return "leads out of the stack's folder through a symbolic link"


def read_stack_bytes(path: Path, access: Access) -> bytes:
    """The stack file itself: given by the operator, but still a regular file of bounded size."""
    return access.read_bytes(path.parent, path.name)


def read_regular(path: str | Path, limit: int | None, shown: str = "") -> bytes:
    """A regular file's bytes (never a device, a FIFO, a socket or a folder), at most `limit` of them."""
    quoted = shown_path(shown or str(path))
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise PathRefused(f"cannot read {quoted}: {exc.strerror or type(exc).__name__}") from None
    except ValueError:
        raise PathRefused("the path holds a NUL character") from None
    except UnicodeEncodeError:
        raise PathRefused(f"{quoted} cannot be written in the file system's encoding") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        raise PathRefused(f"{quoted} is not a regular file (devices, FIFOs, sockets and folders are never read)")
    with os.fdopen(fd, "rb") as fh:
        data = fh.read() if limit is None else fh.read(limit + 1)
    if limit is not None and len(data) > limit:
        raise PathRefused(f"{quoted} is larger than {limit} bytes (the --untrusted limit)")
    return data
