"""How many record batches each partition holds on the embedded durable broker, and when that stalls it.

Tansu's S3 engine answers every fetch by LISTing the partition's whole `records/` folder (one
object per produced batch, oldest first, 1,000 keys a page) and stops listing when the fetch's
`fetch.wait.max.ms` is up; what it has not listed by then it does not return. Once the LIST takes
longer than the wait, a consumer at the end of the partition gets nothing, ever, and its empty
fetches keep SeaweedFS busy enough to slow every produce (ADR 0007, section of 2026-12-02 "Why
tailing stalls"). The cost is per batch, not per record, and nothing in Tansu 0.6 bounds it:
`warden up` deletes what its services have read (warden.broker.trim, ADR 0028) and the changelog
topics' TTL (ADR 0023) the rest. So it counts them and says so before consumers stop.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import httpx

from warden.broker.periodic import Periodic
from warden.broker.seaweed import BUCKET
from warden.core.errors import BrokerError

log = logging.getLogger("warden.broker.history")

# Measured (ADR 0007, 2026-12-02; 6 partitions, two tailing consumers, 50 ms fetch waits, the
# embedded default): tailing consumers fall behind from about 600 batches per partition and read
# nothing at 1,275; with 200 ms waits nothing at 4,050.
WARN_BATCHES = 500
STALL_BATCHES = 1000
CHECK_EVERY_S = 60.0
_S3 = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def records_prefix(cluster: str, topic: str, partition: int) -> str:
    """Where Tansu's S3 engine keeps a partition's batches (tansu-storage dynostore.rs), one object each."""
    return f"clusters/{cluster}/topics/{topic}/partitions/{partition:0>10}/records/"


def _list(client: httpx.Client, s3_url: str, params: dict[str, str], bucket: str = BUCKET) -> ET.Element:
    try:
        response = client.get(f"{s3_url}/{bucket}", params={"list-type": "2", **params})
    except httpx.HTTPError as exc:
        raise BrokerError(f"could not list {params.get('prefix')} on SeaweedFS at {s3_url}: {exc}") from exc
    if response.status_code != 200:
        raise BrokerError(f"listing {params.get('prefix')} on SeaweedFS answered HTTP {response.status_code}, "
                          f"expected 200: {response.text[:200]!r}")
    return ET.fromstring(response.content)


def stored_partitions(client: httpx.Client, s3_url: str, cluster: str, bucket: str = BUCKET) -> dict[str, int]:
    """Every topic Tansu has stored batches for and its partition count, read from the folders (so the services'
    compacted `<group>.changelog` topics too, which no TTL bounds)."""
    def folders(prefix: str) -> list[str]:
        found = [(p.findtext(f"{_S3}Prefix") or "")[len(prefix):].rstrip("/")
                 for root in _pages(client, s3_url, {"prefix": prefix, "delimiter": "/"}, bucket)
                 for p in root.findall(f"{_S3}CommonPrefixes")]
        return [f for f in found if f]

    base = f"clusters/{cluster}/topics/"
    return {topic: len(folders(f"{base}{topic}/partitions/")) for topic in folders(base)}


def _pages(client: httpx.Client, s3_url: str, params: dict[str, str], bucket: str = BUCKET) -> Iterator[ET.Element]:
    """Every page of a ListObjectsV2, in key order, as Tansu reads them."""
    token = None
    while True:
        root = _list(client, s3_url, {**params, **({"continuation-token": token} if token else {})}, bucket)
        yield root
        token = root.findtext(f"{_S3}NextContinuationToken")
        if root.findtext(f"{_S3}IsTruncated") != "true" or not token:
            return


def count_batches(client: httpx.Client, s3_url: str, prefix: str, bucket: str = BUCKET,
                  page_size: int | None = None) -> int:
    """The objects under ``prefix``, page by page as Tansu lists them (ListObjectsV2; the server's page size,
    1,000 keys, unless ``page_size``)."""
    params = {"prefix": prefix, **({"max-keys": str(page_size)} if page_size is not None else {})}
    return sum(len(root.findall(f"{_S3}Contents")) for root in _pages(client, s3_url, params, bucket))


@dataclass(frozen=True)
class StoredBatch:
    """One record batch object: its key, the offset of its first record (the key's name) and when it was written."""

    key: str
    base_offset: int
    written_at: float  # epoch seconds


def list_batches(client: httpx.Client, s3_url: str, prefix: str, bucket: str = BUCKET) -> list[StoredBatch]:
    """A partition's batches, oldest first (keys are zero-padded base offsets: ``{offset:0>20}.batch``)."""
    found = []
    for root in _pages(client, s3_url, {"prefix": prefix}, bucket):
        for item in root.findall(f"{_S3}Contents"):
            key = item.findtext(f"{_S3}Key") or ""
            name = key.rsplit("/", 1)[-1]
            if not name.endswith(".batch") or not name[:20].isdigit():
                continue  # not one of Tansu's batches: never ours to count or delete
            modified = item.findtext(f"{_S3}LastModified") or ""
            found.append(StoredBatch(key, int(name[:20]), _epoch(modified)))
    return sorted(found, key=lambda b: b.base_offset)


def _epoch(stamp: str) -> float:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise BrokerError(f"SeaweedFS listed a LastModified of {stamp!r}, expected an ISO 8601 time") from exc


@dataclass(frozen=True)
class Finding:
    topic: str
    partition: int
    batches: int
    level: int  # logging.WARNING or logging.ERROR

    def message(self, fetch_wait_ms: int) -> str:
        if self.level >= logging.ERROR:
            what = (f"at or past {STALL_BATCHES:,}, where consumers tailing it with {fetch_wait_ms} ms fetch waits "
                    "stop reading and produces slow down")
        else:
            what = f"past {WARN_BATCHES:,}; consumers fall behind from about 600 and stop near {STALL_BATCHES:,}"
        if self.topic.endswith(".changelog"):  # checkpoints: their own TTL (ADR 0023)
            levers = ("lower WARDEN_EMBEDDED_CHANGELOG_RETENTION_MINUTES (checkpoints written before a TTL was set "
                      "on this topic, by an older Warden or before its first start, never expire)")
        else:
            levers = ("batches go once every service has read them (ADR 0028): a service down or behind keeps them; "
                      "restart it, produce fewer, larger batches (linger.ms), lower WARDEN_EMBEDDED_UNREAD_BATCHES_MAX")
        return (f"embedded broker: {self.topic}[{self.partition}] holds {self.batches:,} record batches, {what} "
                f"(Tansu lists every batch on each fetch, ADR 0007). What removes batches: {levers}, "
                "or run on Apache Kafka (KAFKA_BOOTSTRAP_SERVERS) for sustained traffic")


def assess(counts: dict[tuple[str, int], int], warn: int = WARN_BATCHES, stall: int = STALL_BATCHES) -> list[Finding]:
    """Every partition at or past ``warn`` batches, worst first."""
    found = [Finding(topic, partition, n, logging.ERROR if n >= stall else logging.WARNING)
             for (topic, partition), n in counts.items() if n >= warn]
    return sorted(found, key=lambda f: (-f.batches, f.topic, f.partition))


class HistoryWatch(Periodic):
    """Counts batches every ``every_s`` on its own thread (a count of 1,000s of keys takes seconds) and logs a
    partition again only when it reaches a worse level than it was last reported at."""

    thread_name = "broker-history"

    def __init__(self, s3_url: Callable[[], str], cluster: str, partitions: dict[str, int] | None, fetch_wait_ms: int,
                 every_s: float = CHECK_EVERY_S, warn: int = WARN_BATCHES, stall: int = STALL_BATCHES) -> None:
        self.s3_url = s3_url  # asked each time: a SeaweedFS restarted by the supervisor may have moved
        self.cluster = cluster
        self.partitions = partitions  # topic -> partition count; None: every topic stored (stored_partitions)
        self.fetch_wait_ms = fetch_wait_ms
        super().__init__(every_s, log)
        self.warn, self.stall = warn, stall
        self.reported: dict[tuple[str, int], int] = {}
        self.last: list[Finding] = []

    def counts(self) -> dict[tuple[str, int], int]:
        url = self.s3_url()
        with httpx.Client(timeout=httpx.Timeout(30.0, connect=2.0)) as client:
            partitions = self.partitions
            if partitions is None:
                partitions = stored_partitions(client, url, self.cluster)
            return {(topic, p): count_batches(client, url, records_prefix(self.cluster, topic, p))
                    for topic, n in partitions.items() for p in range(n)}

    def check(self) -> list[Finding]:
        """One count; logs what is new or worse; returns every partition past the warning level."""
        self.last = assess(self.counts(), self.warn, self.stall)
        for finding in self.last:
            key = (finding.topic, finding.partition)
            if finding.level > self.reported.get(key, 0):
                log.log(finding.level, finding.message(self.fetch_wait_ms))
                self.reported[key] = finding.level
        return self.last

    def round(self) -> object:
        return self.check()
