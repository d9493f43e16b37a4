"""The "seen before" memory of an idempotent consumer: the ids of the last N records it counted.

Kafka delivers at least once and clients re-send, so anything that adds records up must count
each id once, as the ledger lands each id once. Bounded (the oldest ids are forgotten first) and
JSON-serialisable, so it goes into the consumer's snapshot and survives a restart.
Minimal version written on the `runtime` branch with the API of the one on `harden-ops`
(SeenIds(capacity, ids), first_time, to_json/from_json); the lead reconciles the two.
Hand-written on OrderedDict: a FIFO set with a JSON form is a few lines.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

from warden.core.errors import ConfigError, StateError

DEFAULT_CAPACITY = 20_000


class SeenIds:
    """Bounded and insertion-ordered: `first_time` remembers an id and forgets the oldest past `capacity`."""

    __slots__ = ("_ids", "capacity")

    def __init__(self, capacity: int = DEFAULT_CAPACITY, ids: Iterable[str] = ()) -> None:
        if capacity < 1:
            raise ConfigError(f"a SeenIds capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        for ident in ids:
            self.first_time(ident)

    def first_time(self, ident: str) -> bool:
        """True (and remembered) if `ident` is new; False for an id among the last `capacity` seen."""
        ids = self._ids
        if ident in ids:
            return False
        ids[ident] = None
        if len(ids) > self.capacity:
            ids.popitem(last=False)
        return True

    def __contains__(self, ident: object) -> bool:
        return ident in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def to_json(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "ids": list(self._ids)}

    @classmethod
    def from_json(cls, data: Any, capacity: int | None = None) -> SeenIds:
        """`to_json`'s form or a bare list of ids; `capacity` (today's setting) wins over the saved one."""
        if data is None:
            return cls(capacity or DEFAULT_CAPACITY)
        if isinstance(data, list):
            saved, ids = None, data
        elif isinstance(data, dict) and isinstance(data.get("ids"), list):
            saved, ids = data.get("capacity"), data["ids"]
        else:
            raise StateError(f"seen ids: expected {{'capacity': N, 'ids': [...]}} or a list of ids, "
                             f"got {type(data).__name__}")
        if not all(isinstance(i, str) for i in ids):
            raise StateError("seen ids: every id must be a string")
        return cls(capacity or (saved if isinstance(saved, int) else None) or DEFAULT_CAPACITY, ids)
