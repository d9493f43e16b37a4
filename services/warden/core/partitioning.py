"""Which partition a key lands on: the Java client's murmur2, which every Warden producer uses.

Stateful processors keep state per input partition (docs/decisions/0002), and `warden replay`
must put each event in the partition the live pipeline did. So every Warden producer sets
librdkafka's ``partitioner`` to ``murmur2_random`` (the Java client's default too, so agent
platforms on any Kafka client agree), and replay computes the same function here.
"""

from __future__ import annotations

from functools import lru_cache

PARTITIONER = "murmur2_random"
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 (seed 0x9747b28c) as a signed 32-bit int, like ``Utils.murmur2`` in Java."""
    length = len(data)
    h = (0x9747B28C ^ length) & _MASK
    end = length - length % 4
    for i in range(0, end, 4):
        k = int.from_bytes(data[i:i + 4], "little")
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    rest = length % 4
    if rest == 3:
        h ^= data[end + 2] << 16
    if rest >= 2:
        h ^= data[end + 1] << 8
    if rest >= 1:
        h ^= data[end]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h - (1 << 32) if h & 0x80000000 else h


@lru_cache(maxsize=65_536)  # replay asks once per record; a run's records share a key
def partition_for(key: str | bytes, partitions: int) -> int:
    """The partition a keyed record goes to among ``partitions``: toPositive(murmur2(key)) % n."""
    if partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {partitions}")
    raw = key.encode() if isinstance(key, str) else key
    return (murmur2(raw) & 0x7FFFFFFF) % partitions
