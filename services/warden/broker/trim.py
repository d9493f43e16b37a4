"""Retention on the embedded durable broker by what Warden's services have read (ADR 0028).

Tansu 0.6 lists every batch of a partition on each fetch and applies no retention (DeleteRecords is
`todo!()`), so something must delete batches or tailing consumers stall past ~1,000 a partition (ADR
0021). A time-to-live did that but also deleted records no service had read yet: a `warden up`
stopped for longer than it lost them. Here a batch goes once every service group that reads its
topic has committed past it (and it is older than ``keep_read_s``, so a processor rebuilding its
state still finds the last minutes), so a stop of any length loses nothing. A group the stack started
holds the topics it reads from the start, before its first commit (``required``: a service slow to
join, or crash-looping at its first start, has read nothing yet); any other group once it has
committed on the topic. Only a partition whose unread batches pass ``unread_max`` (a service down or
far behind while traffic flows) loses its oldest ones: that is logged as an error naming the groups
and offsets, since the alternative is every consumer of the partition stalling.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from xml.sax.saxutils import escape

import httpx
from confluent_kafka import ConsumerGroupTopicPartitions, KafkaException
from confluent_kafka.admin import AdminClient

from warden.broker.history import StoredBatch, list_batches, records_prefix
from warden.broker.periodic import Periodic
from warden.broker.seaweed import BUCKET
from warden.core.errors import BrokerError

log = logging.getLogger("warden.broker.trim")

TRIM_EVERY_S = 5.0  # at 250 events/s a partition of agent.events gains ~5 batches a second
SAY_READ_EVERY_S = 60.0  # the deletions of read batches are summed up in one INFO line at most this often
DELETE_PAGE = 1000  # S3 DeleteObjects takes at most 1,000 keys a request

Floors = dict[tuple[str, int], dict[str, int]]  # (topic, partition) -> group -> its committed offset there


@dataclass(frozen=True)
class Trim:
    read: list[StoredBatch]  # every group that reads the topic is past these
    unread: list[StoredBatch]  # over the ceiling: deleted although some group has not read them


def plan(batches: list[StoredBatch], floor: int | None, now: float, keep_read_s: float, unread_max: int) -> Trim:
    """Which of a partition's batches (oldest first) to delete. A batch is read when the next one starts at or
    below ``floor`` (the least committed offset; None: no group has committed on the topic, so age alone
    decides, as a TTL would). Deletion goes from the oldest and stops at the first batch kept, so what remains
    is always one contiguous tail, and the newest batch is never deleted by the read rule."""
    read: list[StoredBatch] = []
    for batch, following in itertools.pairwise(batches):
        if now - batch.written_at < keep_read_s or (floor is not None and following.base_offset > floor):
            break
        read.append(batch)
    rest = batches[len(read):]
    over = len(rest) - unread_max
    return Trim(read, rest[:over] if over > 0 else [])


def group_floors(admin: AdminClient, groups: Iterable[str], topics: set[str], timeout_s: float = 10.0) -> Floors:
    """Each group's committed offsets on ``topics`` (OffsetFetch, which does not join the group)."""
    floors: Floors = {}
    for group in groups:
        future = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                   request_timeout=timeout_s)[group]
        try:
            answer = future.result()
        except KafkaException as exc:
            if "GROUP_ID_NOT_FOUND" in str(exc):
                continue
            raise BrokerError(f"could not read the committed offsets of group {group!r}: {exc}") from exc
        for tp in answer.topic_partitions or []:
            if tp.topic in topics and tp.offset >= 0:
                floors.setdefault((tp.topic, tp.partition), {})[group] = tp.offset
    return floors


def floor_of(floors: Floors, topic: str, partition: int,
             required: tuple[str, ...] = ()) -> tuple[int | None, dict[str, int]]:
    """The least committed offset on this partition over ``required`` (the groups the stack started that read
    this topic, counted before their first commit too) and the groups that have committed anywhere on its topic:
    a group that reads the topic but has not committed on this partition has read none of it (0)."""
    readers = {g for (t, _), by_group in floors.items() if t == topic for g in by_group} | set(required)
    if not readers:
        return None, {}
    here = floors.get((topic, partition), {})
    offsets = {g: here.get(g, 0) for g in sorted(readers)}
    return min(offsets.values()), offsets


def delete_objects(client: httpx.Client, s3_url: str, keys: list[str], bucket: str = BUCKET) -> None:
    """S3 DeleteObjects, a page at a time; any key SeaweedFS did not delete is an error."""
    for start in range(0, len(keys), DELETE_PAGE):
        page = keys[start:start + DELETE_PAGE]
        body = ("<Delete><Quiet>true</Quiet>"
                + "".join(f"<Object><Key>{escape(k)}</Key></Object>" for k in page) + "</Delete>").encode()
        headers = {"Content-MD5": base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode(),
                   "Content-Type": "application/xml"}
        try:
            response = client.post(f"{s3_url}/{bucket}", params={"delete": ""}, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise BrokerError(f"could not delete {len(page)} batches on SeaweedFS at {s3_url}: {exc}") from exc
        if response.status_code != 200 or b"<Error>" in response.content:
            raise BrokerError(f"SeaweedFS did not delete {len(page)} batches (first {page[0]!r}): "
                              f"HTTP {response.status_code} {response.text[:300]!r}")


@dataclass
class TrimTotals:
    read: int = 0
    unread: int = 0
    rounds: int = 0


class BatchTrimmer(Periodic):
    """Every ``every_s`` on its own thread: the floors of ``groups``, then each partition of ``topics``
    listed, planned and trimmed."""

    thread_name = "broker-trim"

    def __init__(self, s3_url: Callable[[], str], admin: AdminClient, cluster: str,
                 topics: dict[str, int], groups: tuple[str, ...], keep_read_s: float, unread_max: int,
                 required: Mapping[str, tuple[str, ...]] | None = None, every_s: float = TRIM_EVERY_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.s3_url = s3_url  # asked each round: a SeaweedFS restarted by the supervisor may have moved
        self.admin = admin  # librdkafka reconnects it to a restarted Tansu on the same port
        self.cluster = cluster
        self.topics = topics  # topic -> partitions
        self.groups = groups
        # topic -> those of ``groups`` that the stack started and that read it: they hold it before they commit
        self.required: Mapping[str, tuple[str, ...]] = required or {}
        self.keep_read_s = keep_read_s
        self.unread_max = unread_max
        super().__init__(every_s, log)
        self.clock = clock
        self.totals = TrimTotals()
        # topic -> (batches past the keep time still kept on its worst partition, the groups at its floor there):
        # who holds the broker's batches, for the history watch's and an operator's question "why so many?"
        self.held: dict[str, tuple[int, list[str]]] = {}
        self._unsaid: dict[str, int] = {}  # read batches deleted per topic since the last INFO line
        self._said_at = clock()

    def trim_once(self) -> TrimTotals:
        """One round; returns what it deleted."""
        floors = group_floors(self.admin, self.groups, set(self.topics))
        done = TrimTotals(rounds=1)
        held: dict[str, tuple[int, list[str]]] = {}
        url = self.s3_url()
        now = self.clock()
        with httpx.Client(timeout=httpx.Timeout(30.0, connect=2.0)) as client:
            for topic, partitions in self.topics.items():
                for partition in range(partitions):
                    floor, by_group = floor_of(floors, topic, partition, self.required.get(topic, ()))
                    batches = list_batches(client, url, records_prefix(self.cluster, topic, partition))
                    trim = plan(batches, floor, now, self.keep_read_s, self.unread_max)
                    if trim.unread:
                        self._say_unread(topic, partition, trim, batches, by_group)
                    doomed = trim.read + trim.unread
                    old = sum(1 for b in batches[len(doomed):] if now - b.written_at >= self.keep_read_s)
                    if old > held.get(topic, (-1, []))[0]:
                        held[topic] = (old, sorted(g for g, o in by_group.items() if o == floor))
                    if doomed:
                        delete_objects(client, url, [b.key for b in doomed])
                    done.read += len(trim.read)
                    done.unread += len(trim.unread)
                    if trim.read:
                        self._unsaid[topic] = self._unsaid.get(topic, 0) + len(trim.read)
        self.held = held
        self._say_read(now)
        self.totals.read += done.read
        self.totals.unread += done.unread
        self.totals.rounds += 1
        return done

    def _say_read(self, now: float) -> None:
        """Retention at work, visible to an operator (a quiet trimmer looked like none): one line a minute at most."""
        if not self._unsaid or now - self._said_at < SAY_READ_EVERY_S:
            return
        counts = ", ".join(f"{topic} {n}" for topic, n in sorted(self._unsaid.items()))
        log.info("embedded broker: deleted %d batches every service had read, older than %g min, in the last %.0f s "
                 "(%s)", sum(self._unsaid.values()), self.keep_read_s / 60, now - self._said_at, counts)
        self._unsaid, self._said_at = {}, now

    def _say_unread(self, topic: str, partition: int, trim: Trim, batches: list[StoredBatch],
                    by_group: dict[str, int]) -> None:
        kept = batches[len(trim.read) + len(trim.unread)].base_offset  # unread_max >= 1: a batch is kept
        behind = sorted(g for g, offset in by_group.items() if offset < kept)
        log.error("embedded broker: %s[%d] holds more than %d unread batches; deleting the oldest %d (offsets "
                  "%d to %d), not yet read by %s: past about 1,000 every consumer of the partition would stall "
                  "(ADR 0021). Restart the service that is behind, lower the traffic, raise "
                  "WARDEN_EMBEDDED_UNREAD_BATCHES_MAX, or run on Apache Kafka for sustained traffic",
                  topic, partition, self.unread_max, len(trim.unread), trim.unread[0].base_offset, kept - 1,
                  ", ".join(behind) or "a group that has not committed yet")

    def round(self) -> object:
        return self.trim_once()
