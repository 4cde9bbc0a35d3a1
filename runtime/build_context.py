"""The content digest of a build context, and the tag it gives a built image.

What the digest covers is exactly what the engine is sent: the files the
`.dockerignore` lets through (matched by the docker SDK's own PatternMatcher,
the one its `build()` uses to pack the context), each by path, mode and content;
the Dockerfile; the build args and the target.

A no-op plan must not read unchanged files: a cache kept outside the stack's
folder (`$XDG_CACHE_HOME/hostform`, else `~/.cache/hostform`) remembers each
file's content hash by path, size and mtime, and each folder's listing by its
mtime (so the ignore patterns are matched again only where a folder changed).
A file or folder changed within the last two seconds is not cached (the
clock may not have moved yet when it changes again). Each digest's file list
is kept too, so a later plan can name the files a new digest differs in.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hostform.declare.access import MAX_FILE_BYTES, Access, PathRefused, read_regular
from hostform.declare.bounds import located
from hostform.declare.builds import BuildRef
from hostform.declare.errors import Problem, StackError
from hostform.declare.load import LoadedStack
from hostform.declare.stack_cache import cache_dir

CACHE_VERSION = 1
RACY_NS = 2 * 10**9
MANIFEST_NAMES = 3  # files named in a "build context changed" reason; the rest are counted


@dataclass(frozen=True)
class ContextDigest:
    digest: str  # sha256 hex
    files: dict[str, str]  # path in the context -> short content hash ("dir", "link:TARGET" for others)


# ---------------------------------------------------------------- the walk


def _patterns(root: Path) -> list[str]:
    """.dockerignore lines as the docker SDK reads them (blank lines and comments dropped). It is
    read as every file of a stack is: inside the context (a symbolic link out of it is refused), a
    regular file (never a device or a FIFO), at most MAX_FILE_BYTES."""
    if not os.path.lexists(root / ".dockerignore"):
        return []
    confined = Access(untrusted=True)  # the context's own folder only; it names no host path
    try:
        text = read_regular(confined.confine(root, ".dockerignore"), MAX_FILE_BYTES, ".dockerignore").decode()
    except UnicodeDecodeError:
        raise PathRefused("'.dockerignore' is not UTF-8 text") from None
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


class _Walk:
    """The context's entries, as docker.utils.build.PatternMatcher.walk yields them, with a
    folder's listing (and its matching) reused while the folder's mtime stays the same."""

    def __init__(self, root: Path, dockerfile: str, cached: dict[str, Any]) -> None:
        self.root = str(root)
        patterns = _patterns(root)
        self._patterns = [*patterns, f"!{dockerfile}"] if patterns else []  # none: nothing is excluded
        self._matcher: Any = None
        # folder listings hold the ignore decisions: they are kept per patterns and Dockerfile
        self.key = hashlib.sha256(json.dumps([patterns, dockerfile]).encode()).hexdigest()[:16]
        self.old_dirs: dict[str, Any] = cached.get(self.key) or {}
        self.dirs: dict[str, Any] = {}
        self.now = time.time_ns()

    def entries(self, rel: str = "") -> Iterator[tuple[str, os.stat_result]]:
        """(path, lstat) of every entry sent, folders too (they exist in the image)."""
        full = f"{self.root}/{rel}" if rel else self.root
        info = os.lstat(full)
        cached = self.old_dirs.get(rel)
        fresh = cached is not None and cached[0] == info.st_mtime_ns
        listing = cached[1] if fresh and cached is not None else self._list(rel, full)
        if info.st_mtime_ns < self.now - RACY_NS:
            self.dirs[rel] = [info.st_mtime_ns, listing]
        prefix = f"{rel}/" if rel else ""
        for name, sent, descend in listing:
            path = prefix + name
            if sent:
                yield path, os.lstat(f"{self.root}/{path}")
            if descend:
                yield from self.entries(path)

    @property
    def matcher(self) -> Any:
        """The SDK's matcher, made only when a folder is listed anew (a cached walk never needs it)."""
        if self._matcher is None and self._patterns:
            from docker.utils.build import PatternMatcher

            self._matcher = PatternMatcher(self._patterns)
        return self._matcher

    def _list(self, rel: str, full: str) -> list[tuple[str, bool, bool]]:
        """[name, sent, descend] per entry: PatternMatcher.walk's decisions, made once per folder."""
        out = []
        with os.scandir(full) as it:
            for entry in sorted(it, key=lambda e: e.name):
                path = f"{rel}/{entry.name}" if rel else entry.name
                excluded = bool(self.matcher and self.matcher.matches(path))
                is_dir = entry.is_dir(follow_symlinks=False)
                descend = is_dir and (not excluded or self._reincluded_below(path))
                out.append((entry.name, not excluded, descend))
        return out

    def _reincluded_below(self, path: str) -> bool:
        return any(p.exclusion and p.cleaned_pattern.startswith(path) for p in self.matcher.patterns)


# ---------------------------------------------------------------- the digest


class ContextCache:
    """Per context folder: content hashes by (size, mtime) and folder listings by mtime."""

    def __init__(self, root: Path, base: Path | None = None) -> None:
        self.base = base or cache_dir()
        key = hashlib.sha256(str(root).encode()).hexdigest()[:24]
        self.path = self.base / "contexts" / f"{key}.json"
        self.data: dict[str, Any] = {"version": CACHE_VERSION, "root": str(root), "files": {}, "dirs": {}}
        try:
            loaded = json.loads(self.path.read_text(encoding="utf-8"))
            if loaded.get("version") == CACHE_VERSION and loaded.get("root") == str(root):
                self.data = loaded
        except (OSError, ValueError):
            pass  # no cache yet, or an unreadable one: start afresh
        self.changed = False

    def save(self) -> None:
        if not self.changed:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(self.data, separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, self.path)
        except OSError:
            pass  # a cache that cannot be written only costs time


def context_listing(root: Path, dockerfile: str, base: Path | None = None) -> dict[str, str]:
    """Every entry the engine is sent -> its short hash (mode and content; "dir:MODE", "link:TARGET");
    a Dockerfile outside the context is listed as "(Dockerfile PATH)"."""
    cache = ContextCache(root, base)
    walk = _Walk(root, dockerfile, cache.data.get("dirs") or {})
    old_files: dict[str, list[Any]] = cache.data.get("files") or {}
    files: dict[str, list[Any]] = {}
    listing: dict[str, str] = {}
    for path, info in walk.entries():
        listing[path] = _entry_hash(root, path, info, old_files.get(path), files, walk.now)
    dockerfile_path = Path(os.path.normpath(root / dockerfile))
    if not dockerfile_path.is_relative_to(root) or os.path.relpath(dockerfile_path, root) not in listing:
        listing[f"(Dockerfile {dockerfile})"] = _sha_of(dockerfile_path)
    all_dirs = cache.data.get("dirs") or {}
    if files != old_files or walk.dirs != all_dirs.get(walk.key):
        others = {k: v for k, v in all_dirs.items() if k != walk.key}
        kept = dict(list(others.items())[-3:])  # a few other Dockerfiles or ignore files of this folder
        cache.data["files"], cache.data["dirs"], cache.changed = files, {**kept, walk.key: walk.dirs}, True
    cache.save()
    return listing


def listing_digest(listing: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(listing.items()), separators=(",", ":")).encode()).hexdigest()


def context_digest(
    listing: dict[str, str],
    dockerfile: str,
    args: dict[str, str],
    target: str | None,
    base: Path | None = None,
    files_digest: str | None = None,
) -> ContextDigest:
    """The digest of a listing with the build's settings; its file list kept for later reasons.
    `files_digest` is listing_digest(listing), when the caller has it (one listing, many args)."""
    head = {"dockerfile": dockerfile, "args": dict(sorted(args.items())), "target": target}
    files = files_digest or listing_digest(listing)
    digest = hashlib.sha256(json.dumps([head, files], separators=(",", ":")).encode()).hexdigest()
    found = ContextDigest(digest, listing)
    _save_manifest(base or cache_dir(), found, head)
    return found


def _entry_hash(
    root: Path, path: str, info: os.stat_result, cached: list[Any] | None, files: dict[str, list[Any]], now: int
) -> str:
    st_mode = info.st_mode
    if stat.S_ISREG(st_mode):  # most entries: tested first
        if cached is not None and cached[0] == info.st_size and cached[1] == info.st_mtime_ns:
            content = str(cached[2])
        else:
            content = _sha_of(root / path)
        if info.st_mtime_ns < now - RACY_NS:
            files[path] = [info.st_size, info.st_mtime_ns, content]
        return f"{stat.S_IMODE(st_mode):o}:{content}"
    if stat.S_ISDIR(st_mode):
        return f"dir:{stat.S_IMODE(st_mode):o}"
    if stat.S_ISLNK(st_mode):
        return f"link:{os.readlink(root / path)}"
    return "other"  # sockets and FIFOs are not sent


def _sha_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:24]


# ---------------------------------------------------------------- what changed


def _manifest_path(base: Path, digest: str) -> Path:
    return base / "manifests" / f"{digest[:32]}.json"


def _save_manifest(base: Path, found: ContextDigest, head: dict[str, Any]) -> None:
    path = _manifest_path(base, found.digest)
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"head": head, "files": found.files}, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def describe_change(old_tag: str, new_ref: BuildRef, base: Path | None = None) -> str:
    """ "build context changed: app/main.py (+1 file)", from the two digests' file lists when this
    machine has the old one; else the two tags."""
    from hostform.declare.builds import TAG_PREFIX

    base = base or cache_dir()
    old_prefix = old_tag.removeprefix(TAG_PREFIX)
    old = _find_manifest(base, old_prefix)
    new = _read_manifest(_manifest_path(base, new_ref.digest))
    if old is None or new is None:
        return f"build context changed: {old_tag} -> {new_ref.tag}"
    parts = []
    before, after = old["files"], new["files"]
    changed = sorted(p for p in after if p in before and before[p] != after[p])
    added = sorted(p for p in after if p not in before)
    removed = sorted(p for p in before if p not in after)
    named = (changed + added + removed)[:MANIFEST_NAMES]
    if named:
        rest = len(changed) + len(added) + len(removed) - len(named)
        counts = []
        if rest:
            counts.append(f"+{rest} file" + ("" if rest == 1 else "s"))
        marks = {p: "" for p in changed} | {p: " (new)" for p in added} | {p: " (removed)" for p in removed}
        parts.append(", ".join(f"{p}{marks[p]}" for p in named) + (f" ({', '.join(counts)})" if counts else ""))
    for key, what in (("args", "build args"), ("target", "target"), ("dockerfile", "dockerfile")):
        if old["head"].get(key) != new["head"].get(key):
            if key == "args":
                parts.extend(_arg_changes(old["head"]["args"], new["head"]["args"]))
            else:
                parts.append(f"{what}: {old['head'].get(key)!r} -> {new['head'].get(key)!r}")
    return "build context changed: " + ("; ".join(parts) or f"{old_tag} -> {new_ref.tag}")


def context_changes(
    builds: dict[str, BuildRef], applied: Iterable[tuple[str, dict[str, Any] | None]]
) -> dict[str, str]:
    """What changed in a build context since the content tag a container or service runs (its
    last-applied spec; from the file lists this machine keeps), as "OLD_REF -> NEW_REF": text."""
    out = {}
    for name, last_applied in applied:
        build = builds.get(name)
        old = str((last_applied or {}).get("image") or "")
        repo, _, old_tag = old.rpartition(":")
        if build is not None and repo == build.repository and old != build.ref:
            out[f"{old} -> {build.ref}"] = describe_change(old_tag, build)
    return out


def _arg_changes(old: dict[str, str], new: dict[str, str]) -> Iterator[str]:
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            yield f"build arg {key}: {json.dumps(old.get(key))} -> {json.dumps(new.get(key))}"


def _find_manifest(base: Path, prefix: str) -> dict[str, Any] | None:
    folder = base / "manifests"
    try:
        for entry in os.scandir(folder):
            if entry.name.startswith(prefix):
                return _read_manifest(Path(entry.path))
    except OSError:
        return None
    return None


def _read_manifest(path: Path) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return found
    except (OSError, ValueError):
        return None


# ---------------------------------------------------------------- the stack


def resolve_builds(loaded: LoadedStack, base: Path | None = None) -> LoadedStack:
    """Every built service's `image` with its content tag; the same context hashed once."""
    services = loaded.stack.services()
    if not any(s.build for s in services.values()):
        return loaded
    listings: dict[tuple[str, str], tuple[dict[str, str], str]] = {}
    digests: dict[tuple[Any, ...], ContextDigest] = {}
    builds: dict[str, BuildRef] = {}
    updates: dict[str, dict[str, Any]] = {"containers": {}, "jobs": {}}
    for name, spec in services.items():
        if spec.build is None:
            continue
        b = spec.build
        key = (b.context, b.dockerfile, tuple(sorted(b.args.items())), b.target)
        if key not in digests:
            kind = "jobs" if name in loaded.stack.jobs else "containers"
            try:
                with located(f"hashing the build context of {kind}.{name}"):
                    if (b.context, b.dockerfile) not in listings:
                        listing = context_listing(Path(b.context), b.dockerfile, base)
                        listings[(b.context, b.dockerfile)] = listing, listing_digest(listing)
                    listing, files = listings[(b.context, b.dockerfile)]
                    digests[key] = context_digest(listing, b.dockerfile, b.args, b.target, base, files)
            except PathRefused as exc:
                raise StackError([Problem(str(loaded.path), f"{kind}.{name}.build", f"cannot read: {exc}")]) from None
            except OSError as exc:
                where = f"{kind}.{name}.build"
                why = exc.strerror or str(exc)
                raise StackError(
                    [Problem(str(loaded.path), where, f"cannot read the build context: {why}: {exc.filename}")]
                ) from None
        ref = BuildRef(
            spec.image,
            digests[key].digest,
            Path(b.context),
            b.dockerfile,
            dict(b.args),
            b.target,
            loaded.stack.stack.push,
            network=b.network,
        )
        builds[name] = ref
        kind = "jobs" if name in loaded.stack.jobs else "containers"
        updates[kind][name] = spec.model_copy(update={"image": ref.ref})
    stack = loaded.stack.model_copy(
        update={
            "containers": {**loaded.stack.containers, **updates["containers"]},
            "jobs": {**loaded.stack.jobs, **updates["jobs"]},
        }
    )
    return replace(loaded, stack=stack, builds=builds)
