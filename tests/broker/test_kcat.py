"""Debian's kcat against the embedded broker: what the README says about librdkafka, checked with the real
program. Its own librdkafka (2.0.2 on Debian 12) cannot connect (librdkafka < 2.2.0 misreads the tagged
fields of the ApiVersions v3 response); the README's workaround, kcat on the librdkafka inside the
confluent-kafka wheel, produces and consumes. `make test` installs kcat (apt-get install -y kcat)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.broker.test_readme_aiokafka import readme_block
from warden.broker.admin import ensure_topics
from warden.broker.tansu import TansuBroker
from warden.core.settings import WardenSettings
from warden.core.topics import TopicSpec

pytestmark = pytest.mark.integration
INSTALL_HINT = "kcat is missing: `make test` installs it (apt-get install -y kcat)"
FIXED_IN = (2, 2, 0)  # librdkafka #4278: tagged fields skipped by their full length


def kcat(*args: str, lib_dir: Path | None = None, data: str | None = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("kcat") or shutil.which("kafkacat")
    assert binary, INSTALL_HINT
    env = {"PATH": "/usr/bin:/bin", **({"LD_LIBRARY_PATH": str(lib_dir)} if lib_dir else {})}
    return subprocess.run([binary, *args], input=data, capture_output=True, text=True, timeout=60, env=env)


def librdkafka_of(lib_dir: Path | None = None) -> tuple[int, ...]:
    found = re.search(r"librdkafka (\d+)\.(\d+)\.(\d+)", kcat("-V", lib_dir=lib_dir).stdout)
    assert found, "kcat -V names no librdkafka version"
    return tuple(int(part) for part in found.groups())


def test_kcat_on_its_own_librdkafka_fails_only_before_2_2(broker: TansuBroker) -> None:
    listed = kcat("-b", broker.bootstrap, "-L", "-m", "5")
    if librdkafka_of() < FIXED_IN:
        assert listed.returncode != 0
        assert "ApiVersionRequest failed: Local: Read underflow" in listed.stderr, listed.stderr
    else:
        assert listed.returncode == 0, listed.stderr


def test_the_readme_kcat_workaround_produces_and_consumes(broker: TansuBroker, settings: WardenSettings,
                                                          tmp_path: Path) -> None:
    block = readme_block("sh", "LIB=")
    lib_dir = tmp_path / "rdkafka"
    # The README's commands, with this test's interpreter, directory and broker in place of the user's.
    for theirs, ours in ((".venv/bin/python", sys.executable), ("/tmp/rdkafka", str(lib_dir)),
                         ("127.0.0.1:9092", broker.bootstrap)):
        assert theirs in block, f"the README's kcat block no longer says {theirs!r}"
        block = block.replace(theirs, ours)
    listed = subprocess.run(["bash", "-euc", block], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2])
    assert listed.returncode == 0, listed.stderr
    assert f"at {broker.bootstrap}" in listed.stdout
    assert librdkafka_of(lib_dir) >= FIXED_IN

    topic = settings.topic("kcat")
    ensure_topics(settings, (TopicSpec("kcat", "none", "none", partitions=1),))
    lines = [f"k{i}:v{i}-{uuid.uuid4().hex[:6]}" for i in range(3)]
    produced = kcat("-b", broker.bootstrap, "-P", "-t", topic, "-K:", lib_dir=lib_dir, data="\n".join(lines) + "\n")
    assert produced.returncode == 0 and "ERROR" not in produced.stderr, produced.stderr
    consumed = kcat("-b", broker.bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-K:", lib_dir=lib_dir)
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.splitlines() == lines
