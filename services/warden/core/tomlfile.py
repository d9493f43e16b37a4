"""Reading an operator's TOML file (prices, budgets, workflows, weights) with one kind of error."""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from warden.core.errors import ConfigError


@dataclass(frozen=True)
class TomlFile:
    path: Path
    document: dict[str, Any]
    digest: str  # sha-256 prefix of the bytes: the version a record names


def read_toml(path: Path, what: str, error: type[ConfigError] = ConfigError) -> TomlFile:
    """`what` names the file for the operator ("price table"); `error` lets a caller keep its own subclass."""
    try:
        raw = path.read_bytes()
        document = tomllib.loads(raw.decode())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise error(f"{what} {path} cannot be read: {exc}") from exc
    return TomlFile(path, document, hashlib.sha256(raw).hexdigest()[:12])
