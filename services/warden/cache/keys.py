"""Cache keys: per tenant, on model + kind + the normalised input.

Normalising makes inputs that differ only in ways a model does not see (Unicode composition, runs of
whitespace, the key order of a JSON object) one key; case and punctuation stay, since they can change an
answer. The tenant is hashed into the key and also prefixes every stored key (backends.py), so one
tenant's lookup can never address another tenant's entry.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from typing import Any

from warden.core.errors import ValidationError

KINDS = frozenset({"answer", "embedding"})


def _normal(value: Any) -> Any:
    if isinstance(value, str):
        # str.split() splits on runs of Unicode whitespace and drops the ends: a regex sub was 10x slower here
        return " ".join(unicodedata.normalize("NFC", value).split())
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normal(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    raise ValidationError(f"cache input must be text or JSON (chat messages, a batch of texts), got "
                          f"{type(value).__name__}")


def normalise(value: Any) -> str:
    """The text the key is made of: a string normalised, anything else as canonical JSON of normalised strings."""
    normal = _normal(value)
    if isinstance(normal, str):
        return normal
    try:
        return json.dumps(normal, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError as exc:
        raise ValidationError(f"cache input cannot be written as JSON: {exc}") from exc


def cache_key(tenant_id: str, model: str, kind: str, value: Any) -> str:
    if kind not in KINDS:
        raise ValidationError(f"cache kind must be one of {sorted(KINDS)}, got {kind!r}")
    text = "\x1f".join((tenant_id, kind, model, normalise(value)))
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def as_text(value: Any) -> str:
    """What the redactor reads: the text itself, or the JSON of structured input or output."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
