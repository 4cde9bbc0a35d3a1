"""age-encrypted secrets files (`[stack] secrets_file`): read, parse, write back.

The encryption is the age format through pyrage (Rust's rage): nothing here is crypto of
our own. Three files take part:

- the encrypted file, in the stack's folder (committed to the repository): binary or armored
  age, whose plaintext is `NAME=VALUE` lines;
- `.age-recipients` beside it: the public keys it is encrypted to, one per line (`age1...`,
  `ssh-ed25519 ...`, `ssh-rsa ...`; `#` comments), used when hostform writes the file;
- the identity (private key) that decrypts it, kept outside the repository:
  `$HOSTFORM_AGE_IDENTITY_FILE`, else `$XDG_CONFIG_HOME/hostform/age/identity.txt`
  (`~/.config/hostform/age/identity.txt`): `AGE-SECRET-KEY-1...` lines as `age-keygen`
  writes them, or an unencrypted OpenSSH private key.

The plaintext: one `NAME=VALUE` per line (NAME as an environment variable's name); blank
lines and lines starting with `#` are skipped; VALUE runs to the end of the line as it is,
unless it starts with `"`: then it is a JSON string (`"line one\\nline two"`), which is how
values with a newline or surrounding spaces are written. No message here ever quotes a line
of the plaintext: a problem names the line's number.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyrage import _Identity, _Recipient

IDENTITY_ENV = "HOSTFORM_AGE_IDENTITY_FILE"
RECIPIENTS_FILE = ".age-recipients"
NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADERS = (b"age-encryption.org/v1\n", b"-----BEGIN AGE ENCRYPTED FILE-----")
MAX_KEY_FILE_BYTES = 1 << 16


class AgeFileError(Exception):
    """An age file, its recipients or the identity cannot be used; the message holds no secret."""


def identity_path(environ: Mapping[str, str]) -> Path:
    """Where the identity is read: $HOSTFORM_AGE_IDENTITY_FILE, else the user's config folder."""
    given = environ.get(IDENTITY_ENV, "")
    if given:
        return Path(given).expanduser()
    base = environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "hostform" / "age" / "identity.txt"


def recipients_path(encrypted: Path) -> Path:
    return encrypted.parent / RECIPIENTS_FILE


def looks_encrypted(data: bytes) -> bool:
    """The age header (binary or armored), without decrypting anything."""
    return any(data.lstrip(b"\r\n\t ").startswith(h) for h in _HEADERS)


def load_identities(environ: Mapping[str, str]) -> list[_Identity]:
    from pyrage import IdentityError, ssh, x25519

    path = identity_path(environ)
    data = _read_key_file(path, "identity")
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            return [ssh.Identity.from_buffer(data)]
        except (IdentityError, ValueError, TypeError):
            raise AgeFileError(f"identity {str(path)!r}: not an unencrypted OpenSSH private key") from None
    found: list[_Identity] = []
    for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            found.append(x25519.Identity.from_str(line))
        except (IdentityError, ValueError, TypeError):
            why = "not an age identity (AGE-SECRET-KEY-1...)"
            raise AgeFileError(f"identity {str(path)!r}, line {number}: {why}") from None
    if not found:
        raise AgeFileError(f"identity {str(path)!r} holds no AGE-SECRET-KEY-1... line")
    return found


def load_recipients(encrypted: Path) -> list[_Recipient]:
    from pyrage import RecipientError, ssh, x25519

    path = recipients_path(encrypted)
    found: list[_Recipient] = []
    text = _read_key_file(path, "recipients").decode("utf-8", "replace")
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            found.append(ssh.Recipient.from_str(line) if line.startswith("ssh-") else x25519.Recipient.from_str(line))
        except (RecipientError, ValueError, TypeError):
            raise AgeFileError(f"{str(path)!r}, line {number}: not an age recipient (age1... or ssh-...)") from None
    if not found:
        raise AgeFileError(f"{str(path)!r} lists no recipient: add the public keys the file is encrypted to")
    return found


def _read_key_file(path: Path, what: str) -> bytes:
    from hostform.declare.access import PathRefused, read_regular

    try:
        return read_regular(path, MAX_KEY_FILE_BYTES, str(path))
    except PathRefused as exc:
        hint = f" (set {IDENTITY_ENV}, or put it at the default place)" if what == "identity" else ""
        raise AgeFileError(f"no usable age {what} file: {exc}{hint}") from None


def decrypt(data: bytes, identities: list[_Identity], shown: str) -> str:
    from pyrage import DecryptError

    try:
        plain = _decrypt(data, identities)
    except DecryptError as exc:
        why = "no identity given matches its recipients" if "No matching keys" in str(exc) else "not a valid age file"
        raise AgeFileError(f"{shown}: cannot decrypt: {why}") from None
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError:
        raise AgeFileError(f"{shown}: the decrypted content is not UTF-8 text") from None


def _decrypt(data: bytes, identities: list[_Identity]) -> bytes:
    import pyrage

    return pyrage.decrypt(data, identities)


def encrypt(text: str, recipients: list[_Recipient]) -> bytes:
    import pyrage

    return pyrage.encrypt(text.encode("utf-8"), recipients)


def parse(text: str, shown: str) -> dict[str, str]:
    """NAME -> VALUE; a malformed or repeated line is an error naming its number (never its text)."""
    out: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = line.partition("=")
        name = name.strip().removeprefix("export ").strip()
        if not sep or not NAME_RE.fullmatch(name):
            raise AgeFileError(f"{shown}, line {number}: not NAME=VALUE (NAME: letters, digits and '_')")
        if name in out:
            raise AgeFileError(f"{shown}, line {number}: {name} is set twice (also on line {first_line[name]})")
        out[name] = _value(value, shown, number)
        first_line[name] = number
    return out


def _value(raw: str, shown: str, number: int) -> str:
    if not raw.startswith('"'):
        return raw
    try:
        value = json.loads(raw)
    except ValueError:
        value = None
    if not isinstance(value, str):
        raise AgeFileError(f"{shown}, line {number}: a value starting with '\"' must be one JSON string")
    return value


def format_secrets(values: Mapping[str, str]) -> str:
    """The plaintext `parse` reads back: a value with a newline, a leading quote or surrounding
    spaces as a JSON string, any other as it is."""
    lines = []
    for name, value in values.items():
        plain = value == value.strip() and not value.startswith('"') and value.splitlines() in ([], [value])
        lines.append(f"{name}={value if plain else json.dumps(value)}")
    return "".join(f"{line}\n" for line in lines)
