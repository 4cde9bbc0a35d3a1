"""`hostform secrets set FILE NAME` and `hostform secrets edit FILE`: change an age-encrypted
secrets file (declare.age_file) without its plaintext touching the command line or the disk
beyond one private temporary file.

- `set` reads the value from standard input (a terminal: asked without echo), never from the
  command line (which other users see in `ps` and shells keep in their history); one trailing
  newline is dropped. The other values are kept: the file is decrypted with the identity first.
- `edit` decrypts into a file of mode 0600 in a fresh private folder (0700; under
  $XDG_RUNTIME_DIR when set, a memory file system on most hosts), runs $VISUAL or $EDITOR on it
  (no shell), checks what was saved, encrypts it back, and removes the folder whatever happens.

Both encrypt to every recipient in `.age-recipients` beside the file, refuse to write without
one, and replace the file atomically (a temporary file in the same folder, then a rename).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from hostform.declare.age_file import (
    NAME_RE,
    AgeFileError,
    decrypt,
    encrypt,
    format_secrets,
    load_identities,
    load_recipients,
    parse,
)
from hostform.declare.errors import SecretsFileError
from hostform.plans.options import Exit, SecretsCommand


def cmd_secrets(o: SecretsCommand) -> int:
    path = Path(o.file)
    try:
        if o.action == "set":
            return _set(path, o.name or "")
        return _edit(path)
    except AgeFileError as exc:
        raise SecretsFileError(str(exc)) from None


def _set(path: Path, name: str) -> int:
    if not NAME_RE.fullmatch(name):
        raise SecretsFileError(f"{name!r} is not a secret's name (letters, digits and '_', as an environment variable)")
    recipients = load_recipients(path)
    value = _value_from_stdin(name)
    values = _current(path)
    verb = "changed" if name in values else "added"
    values[name] = value
    _write(path, encrypt(format_secrets(values), recipients))
    print(f"{name} {verb} in {path} (encrypted to {len(recipients)} recipient{'s' if len(recipients) != 1 else ''})")
    return Exit.OK


def _value_from_stdin(name: str) -> str:
    if sys.stdin is None:
        raise SecretsFileError("give the value on standard input")
    if sys.stdin.isatty():
        import getpass

        value = getpass.getpass(f"value of {name} (not shown): ")
    else:
        try:
            value = sys.stdin.buffer.read().decode("utf-8").removesuffix("\n")
        except UnicodeDecodeError:
            raise SecretsFileError("the value on standard input is not UTF-8 text") from None
    if not value:
        raise SecretsFileError(f"no value for {name} on standard input")
    return value


def _current(path: Path) -> dict[str, str]:
    """The file's values (none when it does not exist yet)."""
    if not path.exists():
        return {}
    return parse(_decrypted(path), str(path))


def _decrypted(path: Path) -> str:
    if not path.exists():
        return ""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SecretsFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    return decrypt(data, load_identities(os.environ), str(path))


def _write(path: Path, data: bytes) -> None:
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent or ".", prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise SecretsFileError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _edit(path: Path) -> int:
    recipients = load_recipients(path)  # before anything is decrypted: no recipient, no edit
    before = _decrypted(path)
    parse(before, str(path))
    editor = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
    folder = tempfile.mkdtemp(prefix="hostform-secrets-", dir=os.environ.get("XDG_RUNTIME_DIR") or None)
    try:
        os.chmod(folder, 0o700)
        plain = Path(folder) / path.name.removesuffix(".age")
        fd = os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(before)
        after = _run_editor(editor, plain)
    finally:
        _remove(folder)
    if after == before:
        print(f"{path}: no change")
        return Exit.OK
    values = parse(after, str(path))
    _write(path, encrypt(format_secrets(values), recipients))
    print(f"{path}: saved {len(values)} secret{'s' if len(values) != 1 else ''} (encrypted to {len(recipients)})")
    return Exit.OK


def _run_editor(editor: list[str], plain: Path) -> str:
    try:
        done = subprocess.run([*editor, str(plain)], check=False)
    except OSError as exc:
        raise SecretsFileError(f"cannot run the editor {editor[0]!r}: {exc.strerror or exc}") from None
    if done.returncode != 0:
        raise SecretsFileError(f"the editor exited with status {done.returncode}: nothing was saved")
    try:
        return plain.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise SecretsFileError("the edited file cannot be read back as UTF-8 text: nothing was saved") from None


def _remove(folder: str) -> None:
    """The plaintext overwritten, then the folder removed (best effort on the overwrite)."""
    for entry in Path(folder).iterdir():
        with contextlib.suppress(OSError):
            if entry.is_file() and not entry.is_symlink():
                size = entry.stat().st_size
                with open(entry, "r+b") as fh:
                    fh.write(b"\0" * size)
    shutil.rmtree(folder, ignore_errors=True)
