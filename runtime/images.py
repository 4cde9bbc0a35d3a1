"""Images hostform makes: built through the engine's builder, pushed to a registry, pulled by digest.

Builds go through the docker SDK, which speaks the engine's classic builder API
(BuildKit needs a gRPC session the SDK does not implement); multi-stage
Dockerfiles and `target` work with it. Registry credentials are the user's
Docker ones (the config file's `auths` and credential helpers), read by the
SDK's own `docker.auth`.

These are plain functions of an Engine and a BuildRef, so a swarm target can
push and reference images by digest the same way.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hostform.declare import names
from hostform.declare.builds import BuildRef, is_content_tag, registry_of
from hostform.declare.errors import BuildFailed, EngineError, RegistryRefused
from hostform.runtime.engine import Engine, translated

LAST_LINES = 8  # output lines a failed build reports
LABEL_CONTEXT = "io.hostform.context"  # on a built image: the full context digest


def build(engine: Engine, stack: str, ref: BuildRef, on_step: Callable[[str], None] = lambda line: None) -> str:
    """Build `ref` on the engine, one `on_step` call per Dockerfile step; returns the image ID.

    A failure raises BuildFailed naming the step that failed and its last output lines.
    """
    labels = {names.LABEL_STACK: stack, LABEL_CONTEXT: ref.digest}
    step = ""
    tail: deque[str] = deque(maxlen=LAST_LINES)
    image_id = ""
    with translated(f"build {ref.ref}"):
        stream = engine.api.build(
            path=str(ref.context),
            dockerfile=ref.dockerfile,
            tag=ref.ref,
            buildargs=dict(ref.args) or None,
            target=ref.target,
            network_mode=ref.network,
            labels=labels,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        )
        for event in stream:
            if "error" in event:
                where = f" at {step}" if step else ""
                output = f"; last output: {' | '.join(tail)}" if tail else ""
                raise BuildFailed(f"build {ref.ref} failed{where}: {str(event['error']).strip()}{output}")
            for line in str(event.get("stream") or "").splitlines():
                line = line.rstrip()
                if line.startswith("Step "):
                    step = line
                    tail.clear()
                    on_step(line)
                elif line and not line.startswith((" ---> ", "Removing intermediate container")):
                    tail.append(line.strip())
            image_id = str((event.get("aux") or {}).get("ID") or image_id)
    return image_id or str(engine.image_id(ref.ref) or "")


def tag(engine: Engine, source: str, ref: BuildRef) -> None:
    """Tag the image `source` (repo:tag or ID) as `ref`: the same build under another repository."""
    engine.call(f"tag {source} as {ref.ref}", engine.api.tag, source, ref.repository, ref.tag)


def credentials(engine: Engine, registry: str) -> dict[str, Any] | None:
    """The user's credentials for a registry (config file `auths`, credHelpers, credsStore), or None."""
    from docker import auth
    from docker.errors import DockerException

    try:
        env = engine.api.credstore_env
        found = auth.resolve_authconfig(auth.load_config(credstore_env=env), registry, credstore_env=env)
    except DockerException as exc:  # a credential helper that fails or is missing
        raise RegistryRefused(f"cannot read the credentials for registry {registry}: {exc}") from None
    return dict(found) if found else None


_AUTH_WORDS = ("unauthorized", "authentication required", "no basic auth credentials", "denied", "401")


def refusal(engine: Engine, registry: str | None, what: str, text: str) -> EngineError:
    """A registry's error as one clear line: credentials missing or refused, named by registry."""
    if registry is None or not any(w in text.lower() for w in _AUTH_WORDS):
        return EngineError(f"{what}: {text}")
    where = "the Docker config (DOCKER_CONFIG, else ~/.docker/config.json)"
    if credentials(engine, registry) is None:
        return RegistryRefused(
            f"{what}: registry {registry} requires credentials and {where} has none for it (docker login {registry})"
        )
    return RegistryRefused(f"{what}: registry {registry} refused the credentials {where} has for it ({text.strip()})")


def push(engine: Engine, ref: BuildRef) -> str:
    """Push the content tag to its registry; returns the pushed digest (sha256:...)."""
    registry = ref.registry
    auth = credentials(engine, registry) if registry else None
    digest = ""
    with translated(f"push {ref.ref}"):
        for event in engine.api.push(ref.repository, tag=ref.tag, stream=True, decode=True, auth_config=auth):
            if "error" in event:
                raise refusal(engine, registry, f"push {ref.ref}", str(event["error"]))
            digest = str((event.get("aux") or {}).get("Digest") or digest)
    if not digest:
        digest = pushed_digest(engine, ref) or ""
    if not digest:
        raise EngineError(f"push {ref.ref}: the registry reported no digest")
    return digest


def pushed_digest(engine: Engine, ref: BuildRef) -> str | None:
    """The registry digest of a content tag already pushed from this engine, from the image's RepoDigests."""
    _, digests = engine.image_facts(ref.ref)
    for item in digests:
        repo, _, digest = item.partition("@")
        if repo == ref.repository:
            return digest
    return None


def pull_by_digest(engine: Engine, repository: str, digest: str) -> str:
    """Pull `repository@digest` with the user's credentials; returns the local image ID."""
    registry = registry_of(repository)
    auth = credentials(engine, registry) if registry else None
    ref = f"{repository}@{digest}"
    with translated(f"pull {ref}"):
        for event in engine.api.pull(ref, stream=True, decode=True, auth_config=auth):
            if "error" in event:
                raise refusal(engine, registry, f"pull {ref}", str(event["error"]))
    found = engine.image_id(ref)
    if found is None:
        raise EngineError(f"pull {ref}: image still missing after pull")
    return found


# ---------------------------------------------------------------- cleanup


@dataclass(frozen=True)
class BuiltImage:
    id: str
    tags: tuple[str, ...]  # repository:ctx-... tags
    created: int


def built_images(engine: Engine, stack: str) -> list[BuiltImage]:
    """Images hostform built for the stack (by the stack label it puts on them), newest first."""
    listed = engine.call("list images", engine.api.images, filters={"label": f"{names.LABEL_STACK}={stack}"})
    out = []
    for image in listed:
        tags = tuple(t for t in image.get("RepoTags") or () if is_content_tag(t.rpartition(":")[2]))
        out.append(BuiltImage(str(image["Id"]), tags, int(image.get("Created") or 0)))
    return sorted(out, key=lambda i: (-i.created, i.id))


def images_in_use(engine: Engine) -> set[str]:
    """IDs of images any container on the engine uses, running or not, whichever stack it is of."""
    return {str(c.get("ImageID") or "") for c in engine.list_containers()}


def prune_plan(images: list[BuiltImage], in_use: set[str], declared: set[str], keep: int) -> list[BuiltImage]:
    """The built images to remove: not used by any container, not what the stack declares now,
    and past the newest `keep` of each repository."""
    seen: dict[str, int] = {}
    out = []
    for image in images:
        repos = {t.rpartition(":")[0] for t in image.tags} or {""}
        rank = max(seen.get(r, 0) for r in repos)
        for r in repos:
            seen[r] = seen.get(r, 0) + 1
        if image.id in in_use or declared & set(image.tags) or rank < keep:
            continue
        out.append(image)
    return out


def remove_image(engine: Engine, image: BuiltImage) -> None:
    """Untag each content tag; the engine removes the image with its last tag (never with force)."""
    for tag in image.tags or (image.id,):
        engine.call(f"remove image {tag}", engine.api.remove_image, tag)
