"""Images built from a folder: which repository a built image goes to, and its content tag.

The tag is made from the build context's digest (runtime.build_context), so an
unchanged folder means the same tag and no build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

TAG_PREFIX = "ctx-"
TAG_HEX = 12  # 48 bits of the context digest: a collision within one repository's history is not a worry


@dataclass(frozen=True)
class BuildRef:
    """One image to build: where from, and the content tag it gets."""

    repository: str  # e.g. 127.0.0.1:5000/blog/web
    digest: str  # sha256 hex of the context (files, Dockerfile, args, target)
    context: Path  # absolute
    dockerfile: str  # relative to the context, as the engine reads it
    args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    push: bool = False  # pushed to its registry by this apply
    remote: bool = False  # built on another engine than the one it runs on: run as repository@digest
    network: str | None = None  # the network RUN steps use (the engine's default when None)

    @property
    def tag(self) -> str:
        return f"{TAG_PREFIX}{self.digest[:TAG_HEX]}"

    @property
    def ref(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def registry(self) -> str | None:
        return registry_of(self.repository)


def registry_of(repository: str) -> str | None:
    """The registry host a repository names (Docker's rule: a first part with '.' or ':', or localhost)."""
    first, sep, _ = repository.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return None


def repository_for(stack: str, name: str, image: str, registry: str | None) -> str:
    """`image` as written, or `<stack>/<name>`; under `[stack] registry` unless it names a registry itself."""
    repo = image or f"{stack}/{name}"
    if registry and registry_of(repo) is None:
        repo = f"{registry.rstrip('/')}/{repo}"
    return repo


def is_content_tag(tag: str) -> bool:
    rest = tag.removeprefix(TAG_PREFIX)
    return tag.startswith(TAG_PREFIX) and len(rest) == TAG_HEX and all(c in "0123456789abcdef" for c in rest)
