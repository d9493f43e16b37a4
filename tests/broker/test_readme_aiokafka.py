"""The README's "any Kafka client" recipe, run as written: its aiokafka block (read from README.md, so the
document cannot drift from what works) publishes a run to the session's broker, and Warden reads it: the
ledger-sink stores both events (so they decoded and passed the contract), on the partition Warden's
murmur2 partitioner gives the run."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message

from tests.cli.test_up import clean_env
from tests.ledger_sink.helpers import sink_settings, wait_for
from warden.core.events import AgentEvent
from warden.core.partitioning import partition_for
from warden.core.settings import WardenSettings
from warden.core.topics import AGENT_EVENTS
from warden.core.wire import wire_for
from warden.ledger.client import Ledger
from warden.ledger_sink.service import LedgerSink
from warden.stack import warden_command

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
MARKER = "# Publish one run to Warden with aiokafka"
REGISTER = "warden schemas register warden.AgentEvent | cut -f2"


def readme_block(language: str, first_line: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    found = [block for block in blocks if block.startswith(first_line)]
    assert len(found) == 1, f"README.md has {len(found)} {language} blocks starting {first_line!r}, expected 1"
    return found[0]


def test_the_readme_aiokafka_recipe_publishes_a_run_warden_reads(topics: WardenSettings, ledger: Ledger) -> None:
    assert f"export SCHEMA_ID=$({REGISTER})" in readme_block("sh", "export SCHEMA_ID="), "the recipe's first step"
    env = clean_env(WARDEN_DATA_DIR=str(topics.data_dir))
    registered = subprocess.run([*warden_command(), "schemas", "register", "warden.AgentEvent"], env=env,
                                capture_output=True, text=True, timeout=60)
    assert registered.returncode == 0, registered.stderr
    subject, schema_id = registered.stdout.strip().split("\t")
    assert subject == "warden.AgentEvent"

    env.update(SCHEMA_ID=schema_id, KAFKA_BOOTSTRAP_SERVERS=topics.bootstrap_servers,
               WARDEN_TOPIC_PREFIX=topics.topic_prefix)
    done = subprocess.run([sys.executable, "-c", readme_block("python", MARKER)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    run_id = re.fullmatch(r"published run (\S+)\n", done.stdout)
    assert run_id, done.stdout
    run = run_id.group(1)

    consumer = Consumer({**topics.kafka_config(), "group.id": f"readme-{uuid.uuid4().hex[:6]}",
                         "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
    consumer.subscribe([topics.topic(AGENT_EVENTS)])
    seen: list[Message] = []
    try:
        wait_for(lambda: len(seen) >= 2, 30, step=lambda: seen.extend(
            m for m in consumer.consume(10, 0.5) if not m.error()), what="the recipe's two records")
        partitions = len(consumer.list_topics(topics.topic(AGENT_EVENTS), 10).topics[
            topics.topic(AGENT_EVENTS)].partitions)
    finally:
        consumer.close()
    wire = wire_for(topics)
    events = [wire.decode(m.value(), "warden.AgentEvent") for m in seen]
    assert all(isinstance(e, AgentEvent) and e.run_id == run for e in events)
    assert [e.event_type for e in events if isinstance(e, AgentEvent)] == ["run_started", "run_completed"]
    assert {m.key() for m in seen} == {run.encode()}
    assert {m.partition() for m in seen} == {partition_for(run, partitions)}, "aiokafka's murmur2 = Warden's"

    sink = LedgerSink(sink_settings(topics, ledger), ledger).start()
    try:
        wait_for(lambda: ledger.scalar(f"SELECT count() FROM {ledger.database}.agent_events "
                                       f"WHERE run_id = '{run}'") == 2, step=sink.poll_once,
                 what="the recipe's run in the ledger")
    finally:
        sink.close()
    assert ledger.scalar(f"SELECT count() FROM {ledger.database}.dead_letters") == 0
