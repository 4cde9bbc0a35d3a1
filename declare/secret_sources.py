"""Where `secret('NAME')` finds a value, in this order:

1. the age-encrypted file `[stack] secrets_file` (declare.age_file), decrypted once per load;
2. `[secrets.NAME] command = [...]`, the standard output of a command (declare.secret_command;
   refused under --untrusted);
3. `[secrets.NAME] file = "path"`, a file in the stack's folder;
4. the environment: `NAME`, or the file `NAME_FILE` names (declare.secrets.read_secret).

The first three are declared by the stack: a name two of them give is an error naming both.
The environment is read only for names no declared source gives. A name found nowhere is one
error naming every source tried. `validate` reads no value (`read_values` False): every
reference stands for an unknown value, and `check` looks at the declared sources without
opening any of them beyond the age file's header.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hostform.declare.access import Access, PathRefused
from hostform.declare.frozen import Frozen
from hostform.declare.secrets import SecretUnreadable, read_secret, remember
from hostform.declare.units import parse_duration

DEFAULT_TIMEOUT_S = 30.0
Report = Callable[[tuple[str | int, ...], str], None]


class Declared(Frozen):
    """One `[secrets.NAME]` table: exactly one of command and file (the schema says so)."""

    command: tuple[str, ...] | None = None
    file: str | None = None
    timeout: float = DEFAULT_TIMEOUT_S  # seconds, for a command

    @property
    def kind(self) -> str:
        return "command" if self.command is not None else "file"


def declared_in(raw: Mapping[str, Any]) -> tuple[str | None, dict[str, Declared]]:
    """`[stack] secrets_file` and the well-formed `[secrets.NAME]` tables of the raw TOML; the
    schema reports the malformed ones (they are left out here)."""
    meta = raw.get("stack")
    secrets_file = meta.get("secrets_file") if isinstance(meta, dict) else None
    tables = raw.get("secrets")
    out: dict[str, Declared] = {}
    for name, table in (tables if isinstance(tables, dict) else {}).items():
        decl = _declared(table)
        if decl is not None:
            out[name] = decl
    return (secrets_file if isinstance(secrets_file, str) and secrets_file else None), out


def _declared(table: Any) -> Declared | None:
    if not isinstance(table, dict):
        return None
    command, file = table.get("command"), table.get("file")
    if (command is None) == (file is None):
        return None
    timeout = DEFAULT_TIMEOUT_S
    if "timeout" in table:
        try:
            timeout = parse_duration(table["timeout"]) / 1e9
        except (ValueError, TypeError):
            return None
    if command is not None:
        if not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command):
            return None
        return Declared(command=tuple(command), timeout=timeout)
    return Declared(file=file, timeout=timeout) if isinstance(file, str) and file else None


@dataclass
class SecretSources:
    """The sources of one load. `read_values` False: nothing is read (validate)."""

    environ: Mapping[str, str]
    stack_dir: Path | None = None
    access: Access = field(default_factory=Access)
    secrets_file: str | None = None
    declared: Mapping[str, Declared] = field(default_factory=dict)
    read_values: bool = True
    unset: set[str] = field(default_factory=set)  # names that stood for an unknown value
    _age: dict[str, str] | None = field(default=None, init=False)
    _age_error: SecretUnreadable | None = field(default=None, init=False)
    _age_read: bool = field(default=False, init=False)

    def value(self, name: str, optional: bool = False) -> str | None:
        """NAME's value; None when it stands for an unknown one (validate; drift with `optional`).
        Raises SecretUnreadable, whose message never holds a value."""
        if not name.isprintable():
            raise SecretUnreadable(f"secret {name!r}: a secret's name holds no control characters")
        if not self.read_values:
            self.unset.add(name)
            return None
        decl = self.declared.get(name)
        age = self._age_values(optional) if self.secrets_file is not None else None
        if age is not None and name in age:
            if decl is not None:
                raise SecretUnreadable(
                    f"secret {name!r} is given twice: by {self._file_shown} and by [secrets.{name}] {decl.kind} "
                    "(keep one)"
                )
            return remember(age[name])
        if decl is not None:
            return self._declared_value(name, decl)
        if self.secrets_file is not None and age is None:  # drift without the identity: it may be in there
            self.unset.add(name)
            return None
        found = read_secret(name, dict(self.environ))
        if found is None:
            if not optional:
                raise SecretUnreadable(self._missing(name))
            self.unset.add(name)
        return found

    @property
    def _file_shown(self) -> str:
        """The secrets file's name as the stack gives it, escaped if it holds control characters."""
        given = self.secrets_file or ""
        return given if given.isprintable() else json.dumps(given)

    def _missing(self, name: str) -> str:
        env = f"{name} or {name}_FILE in the environment, or {name} in .env next to the stack file"
        if self.secrets_file is None:
            return f"secret {name!r} is not set (set {env})"
        return (
            f"secret {name!r} is not set: not in {self._file_shown}, no [secrets.{name}], "
            f"nor {env} (the sources tried, in order)"
        )

    def _age_values(self, optional: bool) -> dict[str, str] | None:
        """The decrypted file's values (once per load); None in drift (optional) when no identity
        is here: its names then stand for what was applied."""
        if not self._age_read:
            self._age_read = True
            try:
                self._age = self._decrypt()
            except SecretUnreadable as exc:
                self._age_error = exc
        if self._age_error is not None:
            if optional and isinstance(self._age_error, _NoIdentity):
                return None
            raise SecretUnreadable(str(self._age_error))
        return self._age

    def _decrypt(self) -> dict[str, str]:
        from hostform.declare.age_file import AgeFileError, decrypt, load_identities, parse

        assert self.secrets_file is not None
        shown = self._file_shown
        try:
            data = self.access.read_bytes(self._dir(), self.secrets_file)
        except PathRefused as exc:
            raise SecretUnreadable(f"[stack] secrets_file: {exc}") from None
        try:
            identities = load_identities(self.environ)
        except AgeFileError as exc:
            raise _NoIdentity(f"cannot decrypt {shown}: {exc}") from None
        try:
            return parse(decrypt(data, identities, shown), shown)
        except AgeFileError as exc:
            raise SecretUnreadable(str(exc)) from None

    def _declared_value(self, name: str, decl: Declared) -> str | None:
        if decl.command is not None:
            if self.access.untrusted:
                return None  # refused by check(), which names the key; nothing runs
            return remember(self._run(name, decl.command, decl.timeout))
        assert decl.file is not None
        try:
            text = self.access.read_text(self._dir(), decl.file)
        except PathRefused as exc:
            raise SecretUnreadable(f"secret {name!r}: [secrets.{name}] file: {exc}") from None
        return remember(text.removesuffix("\n"))

    def _run(self, name: str, command: tuple[str, ...], timeout: float) -> str:
        from hostform.declare.secret_command import CommandFailed, run_command

        try:
            return run_command(command, self._dir(), timeout, self.environ)
        except CommandFailed as exc:
            raise SecretUnreadable(f"secret {name!r}: [secrets.{name}] command: {exc}") from None

    def _dir(self) -> Path:
        return self.stack_dir if self.stack_dir is not None else Path.cwd()

    def check(self, report: Report) -> None:
        """The declared sources, looked at without reading a value: commands refused under
        --untrusted, files present, the secrets file an age file."""
        for name, decl in self.declared.items():
            if decl.command is not None and self.access.untrusted:
                report(
                    ("secrets", name, "command"),
                    "a command source is refused under --untrusted (a stack from a stranger must not run "
                    "commands here): give the value through the environment, a file or the secrets file",
                )
            elif decl.file is not None:
                self._check_file(("secrets", name, "file"), decl.file, report)
        if self.secrets_file is not None:
            self._check_age_file(report)

    def _check_file(self, loc: tuple[str | int, ...], given: str, report: Report) -> None:
        try:
            path = self.access.confine(self._dir(), given)
            info = os.stat(path)
        except PathRefused as exc:
            report(loc, str(exc))
            return
        except OSError as exc:
            report(loc, f"cannot read {given!r}: {exc.strerror or type(exc).__name__}")
            return
        if not stat.S_ISREG(info.st_mode):
            report(loc, f"{given!r} is not a regular file")

    def _check_age_file(self, report: Report) -> None:
        from hostform.declare.age_file import looks_encrypted

        assert self.secrets_file is not None
        loc = ("stack", "secrets_file")
        try:
            head = self.access.read_bytes(self._dir(), self.secrets_file)[:64]
        except PathRefused as exc:
            report(loc, str(exc))
            return
        if not looks_encrypted(head):
            report(loc, f"{self.secrets_file!r} is not an age-encrypted file (write it with `hostform secrets set`)")


class _NoIdentity(SecretUnreadable):
    pass
