"""A generation as the labels of its volume, sealed with the stack's key (docs/record.md).

The seal is an HMAC-SHA256 over the volume's name and the record's canonical JSON, under a key
derived from the stack's own key (the one its default network carries, kept too by the volume
`hostform.key.<stack>`). A reader trusts a generation only when the name is exactly
`hostform.record.<stack>.<six digits>`, its labels say that stack and that number, the seal
holds under the stack's key, and the JSON inside says that stack and number again. Nothing
else is read: a volume made by hand with copied or invented labels is foreign.

Pure functions: no engine here.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from hostform.declare import names
from hostform.runtime.generation import Generation

KEY_CONTEXT = b"hostform record seal v1"  # the seal's key is derived: never the hashing key itself
KEY_BYTES = 16


def seal_key(stack_key: bytes) -> bytes:
    return hmac.new(stack_key, KEY_CONTEXT, hashlib.sha256).digest()


def mac(stack_key: bytes, engine_name: str, data: str) -> str:
    message = engine_name.encode() + b"\n" + data.encode()
    return hmac.new(seal_key(stack_key), message, hashlib.sha256).hexdigest()


def sealed_labels(generation: Generation, stack_key: bytes) -> dict[str, str]:
    """The labels of the volume holding `generation`: no `io.hostform.stack` among them, so no
    listing of the stack's objects (hostform's or a user's `--filter label=...`) shows it."""
    name = names.record_name(generation.stack, generation.number)
    data = generation.to_json()
    return {
        names.LABEL_RECORD: generation.stack,
        names.LABEL_KIND: names.KIND_RECORD,
        names.LABEL_GENERATION: f"{generation.number:06d}",
        names.LABEL_RECORD_DATA: data,
        names.LABEL_RECORD_MAC: mac(stack_key, name, data),
    }


def holds(stack: str, engine_name: str, labels: Mapping[str, str], stack_key: bytes | None) -> int | None:
    """The generation number when the seal of this volume holds (its JSON not yet parsed); None otherwise."""
    number = names.record_number(stack, engine_name)
    if number is None or stack_key is None:
        return None
    if labels.get(names.LABEL_RECORD) != stack or labels.get(names.LABEL_GENERATION) != f"{number:06d}":
        return None
    data, seal = labels.get(names.LABEL_RECORD_DATA), labels.get(names.LABEL_RECORD_MAC)
    if not isinstance(data, str) or not isinstance(seal, str):
        return None
    return number if hmac.compare_digest(seal, mac(stack_key, engine_name, data)) else None


def unseal(stack: str, engine_name: str, labels: Mapping[str, str], stack_key: bytes | None) -> Generation | None:
    """The generation a volume holds, when hostform could have written it; None otherwise."""
    number = holds(stack, engine_name, labels, stack_key)
    if number is None:
        return None
    found = Generation.from_json(labels[names.LABEL_RECORD_DATA])
    if found is None or found.stack != stack or found.number != number:
        return None
    return found


def key_of(stack: str, engine_name: str, labels: Mapping[str, str]) -> bytes | None:
    """The stack's key a key volume keeps (`hostform.key.<stack>`, 16 bytes in hex); None otherwise."""
    if engine_name != names.key_name(stack) or labels.get(names.LABEL_RECORD) != stack:
        return None
    raw = labels.get(names.LABEL_KEY) or ""
    try:
        key = bytes.fromhex(raw)
    except ValueError:
        return None
    return key if len(key) == KEY_BYTES else None


def key_labels(stack: str, stack_key: bytes) -> dict[str, str]:
    return {names.LABEL_RECORD: stack, names.LABEL_KIND: names.KIND_KEY, names.LABEL_KEY: stack_key.hex()}


def foreign_warning(stack: str, engine_name: str) -> str:
    return (
        f"volume {engine_name!r} looks like bookkeeping of stack {stack!r} but hostform did not write it "
        "(its name, labels or seal do not match): ignored, never read or removed; remove it by hand"
    )


__all__ = ["foreign_warning", "holds", "key_labels", "key_of", "mac", "seal_key", "sealed_labels", "unseal"]
