"""The ledger keys that link hash chains and sign checkpoints: from settings, or a managed key file.

Production sets ``WARDEN_LEDGER_KEYS`` (id -> secret, from a secret store) and
``WARDEN_LEDGER_KEY_ID``. Without them the sink keeps its keys in ``DATA_DIR/keys/ledger-keys.json``
(created on first start, mode 0600; replicas sharing the data volume share it), so an embedded
ledger is keyed from its first record. Rotation adds a key and makes it current; old keys stay
listed, because every row names the key that linked it and `warden ledger verify` needs them all.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr

from warden.core.errors import ConfigError
from warden.ledger_rows.chain import ChainKey

MIN_SECRET_CHARS = 32
KEY_FILE = Path("keys") / "ledger-keys.json"


@dataclass(frozen=True)
class LedgerKeys:
    """Every key that may have linked a row (id -> secret), and the one that links new rows."""

    secrets: dict[str, bytes] = field(repr=False)
    current_id: str | None
    source: str  # where they came from, for messages: "WARDEN_LEDGER_KEYS" or the key file's path

    @property
    def current(self) -> ChainKey | None:
        if self.current_id is None:
            return None
        return ChainKey(self.current_id, self.secrets[self.current_id])

    def get(self, key_id: str) -> ChainKey | None:
        secret = self.secrets.get(key_id)
        return None if secret is None else ChainKey(key_id, secret)


NO_KEYS = LedgerKeys({}, None, "none")


def from_mapping(raw: dict[str, str], current_id: str | None, source: str) -> LedgerKeys:
    """Check and pick the current key; a short secret or an unknown current id is a ConfigError."""
    for key_id, value in raw.items():
        if not key_id:
            raise ConfigError(f"{source}: a ledger key needs a non-empty id")
        if len(value) < MIN_SECRET_CHARS:
            raise ConfigError(f"{source}: ledger key {key_id!r} has {len(value)} characters; "
                              f"at least {MIN_SECRET_CHARS} random ones are expected")
    if current_id is None and len(raw) == 1:
        current_id = next(iter(raw))
    if raw and current_id is None:
        raise ConfigError(f"{source} holds {len(raw)} keys ({', '.join(sorted(raw))}): "
                          "set WARDEN_LEDGER_KEY_ID to the one that links new rows")
    if current_id is not None and current_id not in raw:
        raise ConfigError(f"the current ledger key {current_id!r} is not among the keys in {source} "
                          f"({', '.join(sorted(raw)) or 'none'})")
    return LedgerKeys({k: v.encode() for k, v in raw.items()}, current_id, source)


def _new_key_id() -> str:
    return f"k{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def _read_file(path: Path) -> LedgerKeys:
    try:
        data = json.loads(path.read_text())
        keys, current = data["keys"], data["current"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"cannot read the ledger key file {path}: {exc}; expected "
                          '{"current": "<id>", "keys": {"<id>": "<secret>"}}') from exc
    if not isinstance(keys, dict) or not all(isinstance(v, str) for v in keys.values()):
        raise ConfigError(f"the ledger key file {path} has no keys mapping of id -> secret")
    return from_mapping(keys, current, str(path))


def _write_file(path: Path, keys: dict[str, str], current: str, exclusive: bool) -> None:
    """0600, and either only if absent (first start; a racing replica's file wins) or atomically replaced."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({"current": current, "keys": keys}, indent=2)
    target = path if exclusive else path.with_suffix(".tmp")
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    if not exclusive:
        os.replace(target, path)


def load(configured: dict[str, SecretStr], current_id: str | None, data_dir: Path, *,
         create: bool) -> LedgerKeys:
    """The settings' keys when given; else the managed key file, created when ``create`` (the sink)."""
    if configured:
        return from_mapping({k: v.get_secret_value() for k, v in configured.items()}, current_id,
                            "WARDEN_LEDGER_KEYS")
    path = data_dir / KEY_FILE
    if not path.exists():
        if not create:
            return LedgerKeys({}, None, str(path))
        key_id = _new_key_id()
        try:
            _write_file(path, {key_id: secrets.token_hex(32)}, key_id, exclusive=True)
        except FileExistsError:
            pass  # another replica created it first: use theirs
        except OSError as exc:
            raise ConfigError(f"cannot create the ledger key file {path}: {exc}") from exc
    keys = _read_file(path)
    if current_id is not None and current_id != keys.current_id:
        return from_mapping({k: v.decode() for k, v in keys.secrets.items()}, current_id, str(path))
    return keys


def rotate(data_dir: Path) -> tuple[str, Path]:
    """Add a new key to the managed key file and make it current; returns its id and the file."""
    path = data_dir / KEY_FILE
    existing = _read_file(path).secrets if path.exists() else {}
    key_id = _new_key_id()
    keys = {k: v.decode() for k, v in existing.items()} | {key_id: secrets.token_hex(32)}
    try:
        _write_file(path, keys, key_id, exclusive=False)
    except OSError as exc:
        raise ConfigError(f"cannot write the ledger key file {path}: {exc}") from exc
    return key_id, path
