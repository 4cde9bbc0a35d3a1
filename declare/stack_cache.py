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
payload is a JSON tree that decodes into hostform's plain stack classes alone (declare.spec:
every JSON array is a tagged object, tuple or list; an object's class is looked up in an
allow-list and built from its field values, never called with anything else), so a planted file
cannot run code: no pickle is involved. Anything else is a miss: the stack is
validated afresh and the entry rewritten. The cache is a speed-up only, never trusted to
decide what is valid: whoever can write to the user's own cache folder can already change
what the user runs. Off with `--no-cache` or `HOSTFORM_NO_CACHE=1`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

NO_CACHE_ENV = "HOSTFORM_NO_CACHE"
FORMAT = b"hostform-stack-cache 2\n"  # 2: a JSON tree of declare.spec objects (1: a pickle)
KEEP = 64  # entries kept; the oldest beyond these are removed when one is written
MAX_ENTRY_BYTES = 16 << 20
_SCHEMA_MODULES = ("schema.py", "spec.py", "units.py", "names.py", "secrets.py", "stack_cache.py")
_VALIDATORS = ("pydantic", "pydantic_core")


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
    """The code that validation runs: the source of hostform's modules it runs, where pydantic
    and pydantic_core are installed, their versions (the dist-info folders' names) and when (a
    reinstall changes the files' mtime), and Python's version. A source digest, so a development
    checkout invalidates as a release does; pydantic is not imported for it (a cache hit never
    imports pydantic)."""
    global _code_digest
    if _code_digest is None:
        from importlib.util import find_spec

        h = hashlib.sha256()
        here = Path(__file__).parent
        for name in _SCHEMA_MODULES:
            h.update(name.encode() + b"\0" + (here / name).read_bytes() + b"\0")
        for package in _VALIDATORS:
            found = find_spec(package)
            origin = found.origin if found is not None and found.origin else ""
            try:
                info = os.stat(origin)
                site = os.path.dirname(os.path.dirname(origin))
                dist = sorted(n for n in os.listdir(site) if n.startswith(f"{package}-") and n.endswith(".dist-info"))
                h.update(f"{package}\0{origin}\0{info.st_mtime_ns}\0{info.st_size}\0{dist}\0".encode())
            except OSError:
                h.update(f"{package}\0missing\0".encode())
        h.update(sys.version.encode())
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


# ---------------------------------------------------------------- the entry's JSON tree
# A JSON object is always a dict (its keys are strings: names, env and label keys, vars);
# every JSON array is tagged: ["o", class name, [field values in order], [fields set]] for a
# declare.spec object, ["t", [...]] for a tuple, ["l", [...]] for a list.


def _encode(value: Any) -> Any:
    from hostform.declare.spec import Plain

    def enc(v: Any) -> Any:
        t = type(v)
        if t is str or t is int or t is bool or t is float or v is None:
            return v
        if t is dict:
            return {k: enc(x) for k, x in v.items()}
        if t is tuple:
            return ["t", [enc(x) for x in v]]
        if t is list:
            return ["l", [enc(x) for x in v]]
        if isinstance(v, Plain):
            return ["o", t.__name__, [enc(x) for x in v._values()], sorted(v.model_fields_set)]
        raise _Unsafe(t.__name__)  # a Secret, or anything that is not plain data: never stored

    return enc(value)


def _decode(tree: Any) -> Any:
    from hostform.declare.spec import CLASSES

    def dec(v: Any) -> Any:
        t = type(v)
        if t is list:
            tag = v[0]
            if tag == "t":
                return tuple([dec(x) for x in v[1]])
            if tag == "l":
                return [dec(x) for x in v[1]]
            if tag == "o" and len(v) == 4:
                return CLASSES[v[1]]._restore([dec(x) for x in v[2]], v[3])
            raise ValueError(f"unknown tag {tag!r}")
        if t is dict:
            return {k: dec(x) for k, x in v.items()}
        return v

    return dec(tree)


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
        stack = _decode(json.loads(payload))
    except Exception:  # any malformed payload is a miss, never an error
        return None
    from hostform.declare.spec import Stack

    return stack if type(stack) is Stack else None


def write(key: str, stack: Any) -> None:
    """Store `stack` under `key`; a cache that cannot be written only costs time."""
    try:
        tree = _encode(stack)
        payload = json.dumps(tree, ensure_ascii=False, separators=(",", ":")).encode()
    except (_Unsafe, ValueError, TypeError, RecursionError):  # a Secret: never stored, whatever reached here
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
