"""The canonical spec of a container or job: what its last-applied label carries.

Canonical JSON (sorted keys, explicit defaults, normalised spellings) so that
the same declaration always gives the same bytes; secrets appear only as keyed
hashes and config files only as content hashes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

from hostform.declare.load import LoadedStack
from hostform.declare.secrets import UNKNOWN, Secret, UnknownSecret
from hostform.declare.spec import HOST_DEFAULTS, fields_of
from hostform.declare.targets import SWARM_ONLY

if TYPE_CHECKING:
    from hostform.declare.spec import ContainerSpec


__all__ = ["canonical_json", "canonical_of", "fields_of", "file_digest", "service_spec", "spec_hash"]


def service_spec(loaded: LoadedStack, name: str, key: bytes) -> dict[str, Any]:
    stack = loaded.stack
    spec = stack.jobs.get(name) or stack.containers[name]
    files = [
        {
            "source": f.source,
            "target": f.target,
            "mode": f.mode,
            "sha256": file_digest(loaded.files[f.source].content, key),
            "secret": loaded.files[f.source].is_secret,
        }
        for f in spec.files
        if f.source in loaded.files
    ]
    data = canonical_of(spec, key, stack.on_swarm, files)
    if spec.route is not None and spec.route.tls is not None:
        from hostform.declare.load import route_file_name

        tls = data["route"]["tls"]
        for part in ("cert", "key"):
            resolved = loaded.files.get(route_file_name(name, part))
            tls[f"{part}_sha256"] = file_digest(resolved.content, key) if resolved else UNKNOWN
    return data


def canonical_of(spec: ContainerSpec, key: bytes, on_swarm: bool, files: list[dict[str, Any]]) -> dict[str, Any]:
    """A container spec in canonical form; `files` its config files as the canonical spec lists them
    (content digests). Shared by the declaration and by a live container read back (adoption)."""
    # `build` is carried by the image's content tag: a moved folder with the same content is no change;
    # `secrets` by the files the loader made of them (keyed digests); `adopt` only says which
    # running container `hostform adopt` takes over
    if on_swarm:
        data = fields_of(spec, exclude={"env_file", "build", "secrets", "adopt"})
    else:  # the Swarm settings are all defaults here: left out, so host specs stay as they were
        data = fields_of(spec, exclude={"env_file", "build", "secrets", "adopt", *SWARM_ONLY})
        data["update"] = {"order": spec.update.order}
        data["ports"] = [{k: v for k, v in p.items() if k != "mode"} for p in data["ports"]]
    if spec.route is None:
        del data["route"]  # no route: the spec (and its hash) stays as it was before routes existed
    for name, default in HOST_DEFAULTS.items():
        if data[name] == default:  # left out at their defaults: specs applied before they existed stay the same
            del data[name]
    data["env"] = {k: _masked(v, key) for k, v in spec.env.items()}
    data["files"] = files
    out: dict[str, Any] = _jsonable(data)
    return out


def file_digest(content: str | bytes | Secret, key: bytes) -> str:
    """A config file's content as its label carries it: HMAC-SHA256 under the stack's key.

    Keyed, so a short file holding a secret cannot be guessed back from the label.
    """
    if isinstance(content, UnknownSecret):
        return UNKNOWN
    data = content.reveal().encode() if isinstance(content, Secret) else content
    raw = data.encode() if isinstance(data, str) else data
    return hmac.new(key, raw, hashlib.sha256).hexdigest()


def _masked(value: str | Secret, key: bytes) -> Any:
    return {"secret": value.digest(key)} if isinstance(value, Secret) else value


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Secret):
        raise TypeError("a secret reached the canonical spec unmasked")
    return value


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_hash(data: Any) -> str:
    return hashlib.sha256(canonical_json(data).encode()).hexdigest()[:16]
