"""A git repository the agent deploys from: fetched into a cache, checked out one commit at a time.

Everything goes through the `git` command with argument lists (never a shell), so whatever git
can fetch works (a path, file://, https://, ssh://) with git's own credentials (deploy keys,
credential helpers). The cache folder holds a bare repository that only the configured branch is
fetched into, and a clean worktree per commit in use (the commit being deployed, the one applied).
A stack loaded from such a worktree records its commit like a stack loaded from any checkout.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hostform.declare.errors import GitError

GIT_TIMEOUT = 300.0  # a fetch of a large repository over a slow link
_SHA_RE = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_URL_RE = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_SCP_RE = re.compile(r"^[^/:]+@[^/:]+:")  # user@host:path, ssh's short form


@dataclass(frozen=True)
class RepositoryCache:
    """The bare repository under `folder` (`repo.git`) and its worktrees (`trees/<commit>`)."""

    url: str
    branch: str
    folder: Path

    @property
    def git_dir(self) -> Path:
        return self.folder / "repo.git"

    @property
    def _ref(self) -> str:
        return f"refs/hostform/{self.branch}"

    def fetch(self) -> str:
        """Fetch the branch (and nothing else): its commit."""
        if not (self.git_dir / "HEAD").exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            _git(["init", "--quiet", "--bare", str(self.git_dir)], what="create the repository cache")
        refspec = f"+refs/heads/{self.branch}:{self._ref}"
        _git(
            ["--git-dir", str(self.git_dir), "fetch", "--quiet", "--no-tags", "--depth", "50", "--", self.url, refspec],
            what=f"fetch branch {self.branch!r} of {shown_url(self.url)}",
        )
        return self.commit_of(self._ref)

    def commit_of(self, ref: str) -> str:
        out = _git(["--git-dir", str(self.git_dir), "rev-parse", "--verify", "-q", f"{ref}^{{commit}}"], what="read")
        return out.strip()

    def has(self, commit: str) -> bool:
        try:
            self.commit_of(commit)
        except GitError:
            return False
        return True

    def files(self, commit: str) -> list[str]:
        """Every file path in the commit."""
        out = _git(
            ["--git-dir", str(self.git_dir), "ls-tree", "-r", "-z", "--name-only", "--full-tree", commit],
            what="list the files",
        )
        return [p for p in out.split("\0") if p]

    def tree_of(self, commit: str, folder: str) -> str | None:
        """The git tree id of `folder` at `commit` (None: not there): equal ids, equal contents."""
        spec = f"{commit}:{folder}" if folder not in ("", ".") else f"{commit}^{{tree}}"
        try:
            return _git(["--git-dir", str(self.git_dir), "rev-parse", "--verify", "-q", spec], what="read").strip()
        except GitError:
            return None

    def worktree(self, commit: str) -> Path:
        """A clean checkout of `commit` (made once, then reused)."""
        if not _SHA_RE.match(commit):
            raise GitError(f"{commit!r} is not a commit id")
        path = self.folder / "trees" / commit
        if (path / ".git").exists():
            return path
        shutil.rmtree(path, ignore_errors=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        _git(["--git-dir", str(self.git_dir), "worktree", "prune"], what="tidy the worktrees")
        _git(
            ["--git-dir", str(self.git_dir), "worktree", "add", "--quiet", "--detach", "--force", str(path), commit],
            what=f"check out {commit[:12]}",
        )
        return path

    def verify(self, commit: str, allowed_signers: Path) -> None:
        """GitError unless `commit` carries an SSH signature by a key of `allowed_signers` (git's
        gpg.ssh.allowedSignersFile format). Only SSH signatures count: a GnuPG one would be checked
        against whatever keyring the user has, not against the file named."""
        if not allowed_signers.is_file():
            raise GitError(f"allowed_signers {str(allowed_signers)!r}: no such file")
        raw = _git(["--git-dir", str(self.git_dir), "cat-file", "commit", commit], what="read the commit")
        header = raw.split("\n\n", 1)[0]
        if "gpgsig -----BEGIN SSH SIGNATURE-----" not in header:
            raise GitError(f"commit {commit[:12]} is not signed with an SSH key: not deployed")
        try:
            _git(
                [
                    "--git-dir",
                    str(self.git_dir),
                    "-c",
                    f"gpg.ssh.allowedSignersFile={allowed_signers}",
                    "verify-commit",
                    commit,
                ],
                what=f"verify the signature of commit {commit[:12]}",
            )
        except GitError as exc:
            raise GitError(f"commit {commit[:12]} is not signed by an allowed key: not deployed ({exc})") from None

    def drop_worktrees(self, keep: set[str]) -> None:
        """Remove the checkouts of commits no longer in use."""
        trees = self.folder / "trees"
        for path in trees.iterdir() if trees.is_dir() else ():
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)
        if (self.git_dir / "HEAD").exists():
            _git(["--git-dir", str(self.git_dir), "worktree", "prune"], what="tidy the worktrees")


def repository_address(repo: str, base: Path) -> str:
    """A path relative to the configuration's folder becomes absolute; URLs stay as they are."""
    if _URL_RE.match(repo) or _SCP_RE.match(repo):
        return repo
    return str((base / repo).resolve())


def shown_url(url: str) -> str:
    """The address without user info (a token in https://user:token@host/...)."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^@/]*@", r"\1", url, flags=re.IGNORECASE)


def _git(args: list[str], what: str) -> str:
    git = shutil.which("git")
    if git is None:
        raise GitError("git is not installed (the agent fetches with the `git` command)")
    env = {
        **os.environ,
        "GIT_TERMINAL_PROMPT": "0",  # never wait for a password on a terminal
        "GIT_ASKPASS": "",
        "GIT_CONFIG_NOSYSTEM": os.environ.get("GIT_CONFIG_NOSYSTEM", ""),
        "LC_ALL": "C",
    }
    base = [git, "-c", "protocol.ext.allow=never", "-c", "core.hooksPath=/dev/null"]
    try:
        done = subprocess.run(
            [*base, *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            env=env,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise GitError(f"cannot {what}: git took more than {GIT_TIMEOUT:g}s") from None
    except OSError as exc:
        raise GitError(f"cannot {what}: {exc}") from None
    if done.returncode != 0:
        lines = [shown_url(line.strip()) for line in done.stderr.splitlines() if line.strip()]
        raise GitError(f"cannot {what}: {lines[-1] if lines else f'git exited {done.returncode}'}")
    return done.stdout


def glob_matches(glob: str, path: str) -> bool:
    """`*` and `?` within one path part, `**` any number of parts (zero included)."""
    return re.fullmatch(_glob_regex(glob), path) is not None


def _glob_regex(glob: str) -> str:
    out = ""
    parts = glob.split("/")
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out += ".*" if last else "(?:[^/]+/)*"
            continue
        out += "".join("[^/]*" if c == "*" else "[^/]" if c == "?" else re.escape(c) for c in part)
        out += "" if last else "/"
    return out


__all__ = ["GitError", "RepositoryCache", "glob_matches", "repository_address", "shown_url"]
