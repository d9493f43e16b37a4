"""SeaweedFS beside another SeaweedFS: two start at once on one machine, a port another program takes
between the pick and weed's bind costs a retry instead of exit code 255, and readiness says which part
of `weed server` is not answering."""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from warden.broker.seaweed import BUCKET, EPHEMERAL_RANGE, LOWEST_PORT, PORT_NAMES, SeaweedS3, pick_ports
from warden.core.settings import WardenSettings

GC_LINE = re.compile(r"^gc \d+ .* (\d+)->(\d+)->(\d+) MB, (\d+) MB goal", re.MULTILINE)


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[list[SeaweedS3]]:
    made: list[SeaweedS3] = []
    yield made
    for store in made:
        store.stop()


def test_ports_are_distinct_and_below_the_ephemeral_range() -> None:
    low = int(EPHEMERAL_RANGE.read_text().split()[0])
    ports = pick_ports(avoid=frozenset({LOWEST_PORT}))
    assert list(ports) == list(PORT_NAMES) and len(set(ports.values())) == len(PORT_NAMES)
    assert all(LOWEST_PORT < p < low for p in ports.values())  # never where a port-0 bind or a connect lands


@pytest.mark.integration
def test_two_seaweedfs_start_at_once_and_keep_their_objects_apart(tmp_path: Path, stores: list[SeaweedS3]) -> None:
    stores += [SeaweedS3(tmp_path / name, tmp_path / f"{name}.log") for name in ("a", "b")]
    failures: list[BaseException] = []
    started = threading.Barrier(3)
    done = threading.Event()

    def start(store: SeaweedS3) -> None:
        try:
            store.start()
        except BaseException as exc:  # reported below, with the log
            failures.append(exc)
        started.wait(120)
        done.wait(120)  # PDEATHSIG follows the thread that started weed: it must outlive the checks

    threads = [threading.Thread(target=start, args=(s,), daemon=True) for s in stores]
    for thread in threads:
        thread.start()
    try:
        started.wait(120)
        assert not failures, failures
        a, b = stores
        assert a.alive() and b.alive() and not set(a.ports.values()) & set(b.ports.values())
        assert httpx.put(f"{a.s3_url}/{BUCKET}/only-in-a", content=b"a", timeout=10).status_code == 200
        assert httpx.get(f"{a.s3_url}/{BUCKET}/only-in-a", timeout=10).content == b"a"
        assert httpx.get(f"{b.s3_url}/{BUCKET}/only-in-a", timeout=10).status_code == 404
    finally:
        for store in stores:
            store.stop()
        done.set()


@pytest.mark.integration
def test_a_port_taken_between_the_pick_and_the_bind_is_retried_on_fresh_ports(
        tmp_path: Path, stores: list[SeaweedS3]) -> None:
    store = SeaweedS3(tmp_path / "w", tmp_path / "weed.log")
    stores.append(store)
    store.ports = pick_ports()
    with socket.socket() as other:  # another program binds it after the pick (bound, not listening)
        other.bind(("127.0.0.1", store.ports["master"]))  # the first weed binds: the shortest lost attempt
        taken = store.ports["master"]
        store.start()
        assert store.alive() and store.ports["master"] != taken
    assert "address already in use" in (tmp_path / "weed.log").read_text()  # the first attempt lost the port


def test_readiness_names_the_part_that_does_not_answer(tmp_path: Path) -> None:
    store = SeaweedS3(tmp_path / "w")
    store.ports = pick_ports()  # nothing listens on them
    with httpx.Client(timeout=1.0) as client:
        waiting = store.not_ready(client)
    assert waiting is not None
    assert waiting.startswith(f"the master on http://127.0.0.1:{store.ports['master']}/cluster/status does not "
                              "answer yet")
    assert f"the S3 gateway on {store.s3_url} did not answer" in waiting


@pytest.mark.integration
def test_a_relative_data_dir_starts(tmp_path: Path, stores: list[SeaweedS3], monkeypatch: pytest.MonkeyPatch) -> None:
    """WARDEN_DATA_DIR defaults to `.warden`, relative: weed runs inside the data dir, so its flags must
    not name paths relative to the caller's directory (`make demo` in a fresh clone exited 255)."""
    monkeypatch.chdir(tmp_path)
    store = SeaweedS3(Path(".warden") / "broker")
    stores.append(store)
    store.start()
    assert store.alive() and (tmp_path / ".warden" / "broker" / "master").is_dir()
    assert httpx.put(f"{store.s3_url}/{BUCKET}/k", content=b"v", timeout=10).status_code == 200


@pytest.mark.integration
def test_seaweedfs_memory_limit_leaves_its_collector_room(tmp_path: Path, stores: list[SeaweedS3],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """`weed server` allocates about 250-290 MB of buffers at start (its filer's leveldb write buffers, metadata
    log buffers). Under the old 320 MiB GOMEMLIMIT the collector's goal sat just above that live heap instead of at
    twice it (Go's default GOGC), so under traffic it collected 10-28 times a second (ADR 0030). The limit weed
    runs with (read from its environment) must leave twice its live heap, as the runtime's own trace reports it
    (GODEBUG=gctrace=1, which weed inherits) after some writes and lists. Fails at 320 MiB."""
    monkeypatch.setenv("GODEBUG", "gctrace=1")
    store = SeaweedS3(tmp_path / "w", tmp_path / "weed.log",
                      memory_limit_mib=WardenSettings().embedded_storage_memory_mib)
    stores.append(store)
    store.start()
    with httpx.Client(timeout=10) as client:
        for i in range(300):
            assert client.put(f"{store.s3_url}/{BUCKET}/p/{i:020}.batch", content=b"x" * 2000).status_code == 200
            if i % 10 == 0:
                client.get(f"{store.s3_url}/{BUCKET}", params={"list-type": "2", "prefix": "p/"})
    assert store.process is not None
    environ = Path(f"/proc/{store.process.pid}/environ").read_bytes().split(b"\0")
    limit = [v.split(b"=", 1)[1].decode() for v in environ if v.startswith(b"GOMEMLIMIT=")]
    assert limit and limit[0].endswith("MiB"), f"weed runs with GOMEMLIMIT {limit}, expected <n>MiB"
    limit_mb = int(limit[0][:-3]) * 2**20 / 1e6
    lives = [int(live) for *_, live, _goal in GC_LINE.findall((tmp_path / "weed.log").read_text())]
    assert lives, "weed logged no garbage collection"
    assert max(lives) > 100, f"expected SeaweedFS's start-up buffers in its live heap, saw {max(lives)} MB"
    assert limit_mb >= 2 * max(lives), f"GOMEMLIMIT {limit[0]} leaves less than twice the {max(lives)} MB live"
