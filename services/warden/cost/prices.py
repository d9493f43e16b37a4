"""The versioned price table that prices every llm_call whose cost_usd is null.

An unpriced model is a fact to surface, not a zero: `Priced.known` is False, the aggregator
counts it (CostRollup.unpriced_calls) and flags it, and the call adds nothing to cost_usd
rather than a made-up figure.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from warden.core.errors import ConfigError
from warden.core.events import LlmCall
from warden.core.tomlfile import read_toml

DEFAULT_PRICES = Path(__file__).resolve().parents[3] / "infra" / "pricing" / "prices.toml"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class ModelPrice:
    input: float  # USD per 1M uncached input tokens
    output: float
    cached_input: float

    def cost(self, input_tokens: int, output_tokens: int, cached_tokens: int) -> float:
        cached = min(cached_tokens, input_tokens)
        return ((input_tokens - cached) * self.input + cached * self.cached_input
                + output_tokens * self.output) / 1_000_000


@dataclass(frozen=True)
class PriceVersion:
    version: str
    effective_from: datetime
    models: dict[str, ModelPrice]


@dataclass(frozen=True)
class Priced:
    cost_usd: float  # 0.0 when not known: never added as if it were a price
    known: bool
    version: str  # the price version used; "reported" when the event carried cost_usd; UNKNOWN


class PriceTable:
    def __init__(self, versions: list[PriceVersion], digest: str = "") -> None:
        if not versions:
            raise ConfigError("a price table needs at least one [[versions]] entry")
        self.versions = sorted(versions, key=lambda v: v.effective_from)
        self._starts = [v.effective_from for v in self.versions]
        self.digest = digest

    @classmethod
    def load(cls, path: Path = DEFAULT_PRICES) -> PriceTable:
        source = read_toml(path, "price table")
        versions = []
        for number, entry in enumerate(source.document.get("versions", []), start=1):
            where = f"{path} [[versions]] #{number}"
            start = entry.get("effective_from")
            if not isinstance(entry.get("version"), str) or not isinstance(start, datetime):
                raise ConfigError(f"{where}: needs version (string) and effective_from (a TOML datetime), "
                                  f"got {entry.get('version')!r}, {start!r}")
            models = {}
            for model, prices in entry.get("models", {}).items():
                try:
                    models[model] = ModelPrice(**{k: float(prices[k]) for k in ("input", "output", "cached_input")})
                except (KeyError, TypeError, ValueError) as exc:
                    raise ConfigError(f"{where} model {model!r}: needs numeric input, output and cached_input "
                                      f"(USD per 1M tokens), got {prices!r}") from exc
                if min(vars(models[model]).values()) < 0:
                    raise ConfigError(f"{where} model {model!r}: prices must be >= 0, got {prices!r}")
            aware = start if start.tzinfo else start.replace(tzinfo=UTC)
            versions.append(PriceVersion(entry["version"], aware, models))
        return cls(versions, source.digest)

    def version_at(self, at: datetime) -> PriceVersion | None:
        index = bisect.bisect_right(self._starts, at) - 1
        return self.versions[index] if index >= 0 else None

    def price(self, call: LlmCall, at: datetime) -> Priced:
        if call.cost_usd is not None:
            return Priced(call.cost_usd, True, "reported")
        version = self.version_at(at)
        price = version.models.get(call.model) if version else None
        if version is None or price is None:
            return Priced(0.0, False, UNKNOWN)
        return Priced(price.cost(call.input_tokens, call.output_tokens, call.cached_tokens), True, version.version)
