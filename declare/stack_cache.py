"""A cache of validated stacks, so that a no-op `plan` or `drift` skips pydantic's validation
(and the building of the models' validators it triggers).

What is cached is the result of one pure step: the stack's rendered tree (the TOML with every
template rendered, every variable, `env()` value and env file merged in) validated into a
`Stack`, in the folder the stack lives in. The key is a digest of exactly that input (the tree,
the folder, the working folder and home that relative and `~` paths resolve against) plus
the code that validates it (the source of the modules validation runs, pydantic's and
Python's versions). Any change to the stack file, a var file, a `--var`, an
allowed environment variable, an env file or hostform gives another key, so an entry is only
ever used for the input it was made from. Everything after validation (build contexts,
references, config file contents, secrets in file templates) runs on every load.

What is never cached:
- a stack whose tree holds a `secret()` value (or anything else that is not plain TOML data):
  the cache never holds a secret, and no digest of one either;
- a stack that reads env files (they often hold credentials kept out of the stack file);
- anything under `--untrusted` (a stranger's stack neither reads nor writes the cache).

Where and how: `$XDG_CACHE_HOME/hostform/stacks` (else `~/.cache/hostform/stacks`), a folder
of mode 0700; each entry a file of mode 0600 named by its key. An entry is used only if the
folder and the file belong to the user running hostform and nobody else can write to them,
the file holds its own key (so an entry copied under another key's name is refused) and a
digest of its payload that matches (a truncated or altered payload is refused), and the
payload unpickles into hostform's stack models alone: the unpickler resolves no other class
or function, so a planted file cannot run code. Anything else is a miss: the stack is
validated afresh and the entry rewritten. The cache is a speed-up only, never trusted to
decide what is valid: whoever can write to the user's own cache folder can already change
what the user runs. Off with `--no-cache` or `HOSTFORM_NO_CACHE=1`.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import re
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

NO_CACHE_ENV = "HOSTFORM_NO_CACHE"
FORMAT = b"hostform-stack-cache 1\n"
KEEP = 64  # entries kept; the oldest beyond these are removed when one is written
MAX_ENTRY_BYTES = 16 << 20
_SCHEMA_MODULES = ("schema.py", "units.py", "names.py", "secrets.py", "stack_cache.py")


def cache_dir() -> Path:
    """hostform's cache folder: `$XDG_CACHE_HOME/hostform`, else `~/.cache/hostform`."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hostform"


def enabled_by_env(environ: Any = None) -> bool:
    value = (os.environ if environ is None else environ).get(NO_CACHE_ENV, "")
    return value.strip().lower() in ("", "0", "false", "no", "off")


class _Unsafe(Exception):
    """The input cannot be cached (it holds a secret or a value that is not plain TOML data)."""


def _refuse(value: Any) -> Any:
    raise _Unsafe(type(value).__name__)


_code_digest: str | None = None


def _code() -> str:
    """The code that validation runs: the source of hostform's modules it runs, pydantic's and
    Python's versions (a source digest, so a development checkout invalidates as a release does)."""
    global _code_digest
    if _code_digest is None:
        import pydantic_core
        from pydantic.version import VERSION as PYDANTIC

        h = hashlib.sha256()
        here = Path(__file__).parent
        for name in _SCHEMA_MODULES:
            h.update(name.encode() + b"\0" + (here / name).read_bytes() + b"\0")
        h.update(f"{PYDANTIC}\0{pydantic_core.__version__}\0{sys.version}".encode())
        _code_digest = h.hexdigest()
    return _code_digest


def key_of(rendered: dict[str, Any], base_dir: str) -> str | None:
    """The cache key of validating `rendered` in `base_dir`; None when it must not be cached."""
    if _reads_env_files(rendered):
        return None
    try:
        tree = json.dumps(rendered, ensure_ascii=False, default=_refuse, separators=(",", ":"))
    except (_Unsafe, ValueError, TypeError, RecursionError):
        return None
    if re.search(r'"~[^/"]', tree):  # "~user/...": resolved through the user database, not keyed
        return None
    where = json.dumps([base_dir, os.getcwd(), os.path.expanduser("~"), _code()])
    return hashlib.sha256(f"{where}\n{tree}".encode()).hexdigest()


def _reads_env_files(rendered: dict[str, Any]) -> bool:
    for kind in ("containers", "jobs"):
        specs = rendered.get(kind)
        for spec in specs.values() if isinstance(specs, dict) else ():
            if isinstance(spec, dict) and spec.get("env_file"):
                return True
    return False


class _ModelsOnly(pickle.Unpickler):
    """Resolves hostform's stack models and nothing else: no function, no other class."""

    def find_class(self, module: str, name: str) -> Any:
        from hostform.declare import schema

        found = getattr(schema, name, None) if module == schema.__name__ else None
        if isinstance(found, type) and issubclass(found, schema.Model):
            return found
        raise pickle.UnpicklingError(f"{module}.{name} is not a stack model")


def _private(path: Path, kind: int) -> os.stat_result | None:
    """lstat of path when it is of `kind`, owned by this user and writable by nobody else."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if stat.S_IFMT(info.st_mode) != kind or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        return None
    return info


def _folder(create: bool) -> Path | None:
    folder = cache_dir() / "stacks"
    if create:
        try:
            folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            folder.mkdir(mode=0o700, exist_ok=True)
        except OSError:
            return None
    if _private(folder.parent, stat.S_IFDIR) is None or _private(folder, stat.S_IFDIR) is None:
        return None
    return folder


def read(key: str) -> Any:
    """The stack cached under `key`, or None (missing, foreign, altered or unreadable)."""
    folder = _folder(create=False)
    if folder is None:
        return None
    try:
        fd = os.open(folder / key, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o077:
            return None
        if info.st_size > MAX_ENTRY_BYTES:
            return None
        data = fh.read(MAX_ENTRY_BYTES + 1)
    head, sep, payload = data.partition(b"\n\n")
    if not sep or head != FORMAT + f"{key}\n{hashlib.sha256(payload).hexdigest()}".encode():
        return None
    try:
        stack = _ModelsOnly(io.BytesIO(payload)).load()
    except Exception:  # any malformed payload is a miss, never an error
        return None
    from hostform.declare.schema import Stack

    return stack if type(stack) is Stack else None


def write(key: str, stack: Any) -> None:
    """Store `stack` under `key`; a cache that cannot be written only costs time."""
    try:
        payload = pickle.dumps(stack, protocol=5)
    except Exception:  # a Secret refuses to be pickled: never stored, whatever reached here
        return
    folder = _folder(create=True)
    if folder is None:
        return
    head = FORMAT + f"{key}\n{hashlib.sha256(payload).hexdigest()}\n\n".encode()
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")  # mode 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(head + payload)
        os.replace(tmp, folder / key)
    except OSError:
        return
    _prune(folder)


def _prune(folder: Path) -> None:
    try:
        entries = [e for e in os.scandir(folder) if e.is_file(follow_symlinks=False)]
        if len(entries) <= KEEP:
            return
        entries.sort(key=lambda e: e.stat(follow_symlinks=False).st_mtime_ns)
        for old in entries[: len(entries) - KEEP]:
            os.unlink(old.path)
    except OSError:
        pass


def validated(rendered: dict[str, Any], base_dir: str, validate: Callable[[], Any], use: bool) -> Any:
    """validate(), or the stack it gave for this very input before."""
    key = key_of(rendered, base_dir) if use else None
    if key is None:
        return validate()
    stack = read(key)
    if stack is None:
        stack = validate()
        write(key, stack)
    return stack
