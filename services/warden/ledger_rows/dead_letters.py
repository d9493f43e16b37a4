"""What a dead letter may keep: a redacted body, and the original bytes only encrypted.

A rejected record is whatever a client sent, secrets included, and the dead-letter table keeps it
for years; so the body is redacted like params and outputs before the letter is produced (topic
`deadletter`) and again before it is stored (records another service dead-lettered). The bytes
are read as UTF-8 with undecodable bytes carried through unchanged (surrogateescape), so binary
framing around the text survives and every readable secret in it goes.

For forensics the original bytes can be kept too, but only sealed: Fernet (AES-128-CBC with
HMAC-SHA256, from `cryptography`) under a configured key (``WARDEN_DEAD_LETTER_KEYS``); the key id
rides with the letter so keys can rotate. `warden ledger unseal ID` opens one with the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from warden.core.errors import ConfigError
from warden.core.records import DeadLetter
from warden.core.redaction import redact


@dataclass(frozen=True)
class Sealer:
    """Dead-letter keys by id and the id that seals new letters."""

    keys: dict[str, Fernet] = field(repr=False)
    current_id: str

    def seal(self, raw: bytes) -> bytes:
        return self.keys[self.current_id].encrypt(raw)

    def unseal(self, sealed: bytes, key_id: str) -> bytes:
        key = self.keys.get(key_id)
        if key is None:
            raise ConfigError(f"the dead letter was sealed with key {key_id!r}, which is not among "
                              f"WARDEN_DEAD_LETTER_KEYS ({', '.join(sorted(self.keys)) or 'none'})")
        try:
            return key.decrypt(sealed)
        except InvalidToken as exc:
            raise ConfigError(f"the sealed bytes do not open with key {key_id!r}: altered, or another key "
                              "under that id") from exc


def sealer_from(keys: dict[str, SecretStr], current_id: str | None) -> Sealer | None:
    """None without keys (then only the redacted body is kept); a key that is not a Fernet key is a ConfigError."""
    if not keys:
        return None
    fernets = {}
    for key_id, value in keys.items():
        try:
            fernets[key_id] = Fernet(value.get_secret_value().encode())
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"dead-letter key {key_id!r} is not a Fernet key (32 url-safe base64-encoded "
                              "bytes; `warden ledger dead-letter-key` prints a new one)") from exc
    if current_id is None and len(fernets) == 1:
        current_id = next(iter(fernets))
    if current_id is None or current_id not in fernets:
        raise ConfigError(f"WARDEN_DEAD_LETTER_KEY_ID must name one of {', '.join(sorted(fernets))}, "
                          f"got {current_id!r}")
    return Sealer(fernets, current_id)


def redact_bytes(raw: bytes) -> tuple[bytes, dict[str, int]]:
    """The body with every readable secret and PII taken out; bytes that are not text pass through."""
    text = raw.decode("utf-8", "surrogateescape")
    result = redact(text)
    return (result.text or "").encode("utf-8", "surrogateescape"), result.counts


def protect(letter: DeadLetter, sealer: Sealer | None) -> DeadLetter:
    """Seal the original bytes (when a key is configured and they are not sealed yet), redact body and reason."""
    update: dict[str, object] = {}
    if sealer is not None and letter.raw_sealed is None:
        update.update(raw_sealed=sealer.seal(letter.raw), raw_key_id=sealer.current_id)
    body, _ = redact_bytes(letter.raw)
    reason = redact(letter.reason).text or ""
    if body != letter.raw:
        update["raw"] = body
    if reason != letter.reason:
        update["reason"] = reason  # a validation error may quote the offending value
    return letter.model_copy(update=update) if update else letter
