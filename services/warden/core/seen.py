"""The "seen before" memory of an idempotent consumer: the ids of the last N records it counted.

Kafka delivers at least once and clients re-send, so anything that adds up records (spend,
budgets, alert counts) must count each id once, as the ledger lands each id once. The memory
is bounded (the oldest ids are forgotten first) and goes into the consumer's snapshot, so a
restart, kill -9 included, still recognises what it counted before the crash.
Hand-written on OrderedDict: a FIFO set with a JSON form is 30 lines, and cachetools' caches
would still need that JSON form and a pydantic schema.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

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
        """True (and remembered) if `ident` is new; False for an id seen within the last `capacity`."""
        if ident in self._ids:
            return False
        self._ids[ident] = None
        while len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True

    def __contains__(self, ident: object) -> bool:
        return ident in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SeenIds) and self.capacity == other.capacity and list(self) == list(other)

    def __repr__(self) -> str:
        return f"SeenIds(capacity={self.capacity}, {len(self)} ids)"

    def to_json(self) -> dict[str, Any]:
        return {"capacity": self.capacity, "ids": list(self._ids)}

    @classmethod
    def from_json(cls, data: Any, capacity: int | None = None) -> SeenIds:
        """Reads `to_json`'s form, or a bare list of ids (what older snapshots kept). `capacity`, when
        given (the current settings), wins over the saved one; shrinking keeps the newest ids."""
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
        size = capacity or (saved if isinstance(saved, int) else None) or DEFAULT_CAPACITY
        return cls(size, ids)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        """So a pydantic-serialised state (the alerter's) holds one as its JSON form."""
        def validate(value: Any) -> SeenIds:
            return value if isinstance(value, SeenIds) else cls.from_json(value)

        return core_schema.no_info_plain_validator_function(
            validate, serialization=core_schema.plain_serializer_function_ser_schema(lambda s: s.to_json()))
