"""The live rollout-controller on the real broker decides as `warden replay --rollout` on the same events,
across six partitions and a restart from its checkpoint, with and without the routing headers (ADR 0019)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer

from tests.ledger_sink.helpers import wait_for
from tests.rollout.helpers import T0, event, plan, start_command, traffic, with_tool_calls
from tests.running import in_thread
from warden.core import topics as topic_names
from warden.core.events import AgentEvent, RunStarted
from warden.core.headers import event_headers
from warden.core.partitioning import partition_for
from warden.core.records import RolloutDecision, RolloutStatus
from warden.core.settings import WardenSettings
from warden.core.topics import PARTITIONS
from warden.core.wire import wire_for
from warden.cost.prices import PriceTable
from warden.kafka.control import publish_control
from warden.replay.runner import replay
from warden.rollout.controller import ControllerConfig
from warden.rollout.plan import Gates
from warden.rollout.views import decision_view
from warden.rollout_controller.service import RolloutController, source
from warden.rollout_controller.settings import RolloutControllerSettings
from warden.sdk.client import WardenClient

pytestmark = pytest.mark.integration


class Decisions:
    def __init__(self, settings: WardenSettings) -> None:
        self.wire = wire_for(settings)
        self.consumer = Consumer({**settings.kafka_config(), "group.id": f"rd-{uuid.uuid4().hex[:8]}",
                                  "auto.offset.reset": "earliest", "session.timeout.ms": 6000})
        self.consumer.subscribe([settings.topic(topic_names.ROLLOUT_DECISIONS)])
        self.seen: dict[str, RolloutDecision] = {}

    def read(self) -> None:
        for msg in self.consumer.consume(1000, 0.2):
            if msg.error() is None:
                record = self.wire.decode(msg.value(), "warden.RolloutDecision")
                assert isinstance(record, RolloutDecision)
                self.seen[record.decision_id] = record  # a restart may re-make one: same id

    def kinds(self) -> list[str]:
        return [d.decision.value for d in sorted(self.seen.values(), key=lambda d: d.decided_at)]


@contextmanager
def controller(settings: WardenSettings, group: str) -> Iterator[RolloutController]:
    # idle never comes (it would move the clock on the wall clock): only event time judges here
    fields = {**settings.model_dump(), "group_id": group, "snapshot_every_s": 0.5, "rollout_idle_after_s": 600.0}
    with in_thread(RolloutController(RolloutControllerSettings(**fields)).start()) as service:
        yield service


def comparable(view: dict[str, Any], rollout_id: str) -> str:
    view = {k: v for k, v in view.items() if k != "decision_id"}
    if view["decision"] == "start":  # who started it: the CLI's operator live, warden:replay offline
        view.pop("actor"), view.pop("rationale"), view.pop("reason")
    return json.dumps(view, sort_keys=True).replace(rollout_id, "R")


Line = AgentEvent | tuple[AgentEvent, dict[str, Any]]  # an event, or one with fields made bad (the record as sent)


def produce(settings: WardenSettings, events: list[Line], headers: bool) -> None:
    """As the SDK writes them (routing headers, ADR 0019), or as an older producer (none). A bad record goes
    out with the headers of the good event it was made from, as a producer whose body is wrong would send it."""
    wire = wire_for(settings)
    producer = Producer({**settings.producer_config(), "enable.idempotence": True, "linger.ms": 5})
    for item in events:
        e, changes = item if isinstance(item, tuple) else (item, {})
        value = wire.encode(e) if not changes else wire.codec.encode("warden.AgentEvent", spoiled(e.to_avro(), changes))
        producer.produce(settings.topic(topic_names.AGENT_EVENTS), value, key=e.run_id.encode(),
                         headers=event_headers(e) if headers else None)
    assert producer.flush(30) == 0


def spoiled(record: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The record with ``changes`` applied; ``body.X`` changes a body field (an Avro pair or a JSON object)."""
    record = dict(record)
    for name, value in changes.items():
        if name.startswith("body."):
            body = record["body"]
            record["body"] = (body[0], {**body[1], name[5:]: value}) if isinstance(body, tuple) \
                else {**body, name[5:]: value}
        else:
            record[name] = value
    return record


def at(item: Line) -> datetime:
    return (item[0] if isinstance(item, tuple) else item).occurred_at


def line(item: Line) -> str:
    e, changes = item if isinstance(item, tuple) else (item, {})
    return json.dumps(spoiled(e.to_json_view(), changes)) + "\n"


def llm_call(e: AgentEvent, name: str, cost: float, **changes: Any) -> tuple[AgentEvent, dict[str, Any]]:
    """One more LLM call of ``e``'s run, a second after it, with ``changes`` made to the record sent."""
    call = event("llm_call", e.run_id, e.occurred_at + timedelta(seconds=1),
                 {"model": "m", "provider": "p", "input_tokens": 10, "output_tokens": 5, "latency_ms": 100.0,
                  "cost_usd": cost}, step_no=7, workflow=e.workflow, tenant=e.tenant_id)
    call = call.model_copy(update={"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{e.run_id}:{name}"))})
    return call, changes


def hostile(events: list[AgentEvent]) -> tuple[list[Line], list[Line]]:
    """Bad records among the runs (ADR 0020). ``refused``: a field the controller acts on is bad, and each
    would move a gate if it were read (a $5 call of a candidate run): the full model and the controller's view
    both refuse them. ``lenient``: only fields it does not act on are bad (every reader of the full model,
    replay's other outputs and the ledger refuse them); the controller reads them live and in replay alike;
    and a re-sent call."""
    starts = [(e, e.body.release_name) for e in events if isinstance(e.body, RunStarted)]
    candidate = [e for e, release in starts if release == "v4"][:6]
    baseline = [e for e, release in starts if release == "v3"][:10]
    refused: list[Line] = []
    for i, e in enumerate(candidate):
        refused += [llm_call(e, f"uuid{i}", 5.0, event_id=f"not-a-uuid-{i}"),
                    llm_call(e, f"neg{i}", 5.0, **{"body.model": "gpt-4o", "body.input_tokens": -1,
                                                  "body.output_tokens": 1_000_000, "body.cost_usd": None}),
                    llm_call(e, f"nul{i}", 5.0, **{"body.model": "m\x00"}),
                    llm_call(e, f"inf{i}", 5.0, **{"body.cost_usd": float("inf")})]
    lenient: list[Line] = [llm_call(e, f"agent{i}", 0.004, agent_id="") for i, e in enumerate(baseline)]
    # an LLM call read before its run's start (passed over: no run tracked yet), sent again after it: the
    # copy is read, live and in replay alike (replay decides before its memory of ids, as the runtime does)
    early, _ = llm_call(candidate[-1], "early", 0.05)
    lenient += [early.model_copy(update={"occurred_at": candidate[-1].occurred_at - timedelta(seconds=1)}),
                early.model_copy(update={"occurred_at": candidate[-1].occurred_at + timedelta(seconds=2)})]
    lenient += [llm_call(e, f"cache{i}", 0.004, **{"body.cache_hit": True}) for i, e in enumerate(baseline)]
    return refused, lenient


@pytest.mark.parametrize("headers", [True, False], ids=["routing-headers", "no-headers"])
def test_live_decisions_equal_replay_decisions_across_partitions_and_a_restart(
        topics: WardenSettings, tmp_path: Path, headers: bool) -> None:
    # 20 minutes at equal cost (promote 5 -> 25 at 09:10, then gates pass at 25 and the promotion waits for
    # approval), then the candidate's cost doubles: rolled back at 25 a few minutes later. Tool calls in
    # every run and at the end, which the controller passes over (on their headers, or after the Avro decode).
    the_plan = plan(gates=Gates(cost_increase_vs_baseline_max=0.20))
    good = with_tool_calls(sorted(traffic(T0, 120, vary=0.01) + traffic(
        T0 + timedelta(minutes=20), 80, candidate_cost=0.10, prefix="s", vary=0.01), key=lambda e: e.occurred_at))
    # runs of a workflow under no rollout (another tenant's, so no budget of acme's moves): passed over on
    # their headers and record keys, not decoded
    others = [e.model_copy(update={"workflow": "triage_ticket", "tenant_id": "globex", "run_id": f"o-{e.run_id}",
                                   "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"o-{e.event_id}"))})
              for e in traffic(T0, 40, prefix="o")]
    refused, lenient = hostile(good)
    events: list[Line] = sorted([*good, *others, *refused, *lenient], key=at)
    config = ControllerConfig(PriceTable.load(), timedelta(seconds=RolloutControllerSettings().rollout_settle_s))

    def offline_decisions(name: str, items: list[Line]) -> list[dict[str, Any]]:
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(line(i) for i in sorted(items, key=at)))
        result = replay(path, tmp_path / name, rollout=the_plan, rollout_config=config)
        assert len(result.bad) == len([i for i in items if isinstance(i, tuple)])
        return [json.loads(text) for text in (tmp_path / name / "rollouts.jsonl").read_text().splitlines()]

    offline = offline_decisions("events", events)
    kinds = [d["decision"] for d in offline]
    assert kinds[:3] == ["start", "promote", "hold"] and kinds[-1] == "rollback", kinds
    # the lenient records count (in the baseline's cost), the refused ones and the other workflow do not
    assert offline != offline_decisions("without-lenient", [*good, *refused])
    assert [comparable(d, "R") for d in offline_decisions("without-refused", [*good, *lenient])] == \
        [comparable(d, "R") for d in offline]

    start = start_command(the_plan)
    publish_control(topics, start, f"rollout-command:{start.rollout_command.command_id}", "start")  # type: ignore[union-attr]
    live = Decisions(topics)
    group = f"rc-{uuid.uuid4().hex[:8]}"
    first, rest = [e for e in events if at(e) < T0 + timedelta(minutes=15)], \
        [e for e in events if at(e) >= T0 + timedelta(minutes=15)]
    with controller(topics, group) as service:
        produce(topics, first, headers)
        wait_for(lambda: "promote" in live.kinds(), step=live.read, what="the promotion to 25%")
        first_run = service.counters["processed"]
    produce(topics, rest, headers)
    newest: dict[str, int] = {}
    for e in [*good, *others]:
        where = source(partition_for(e.run_id, PARTITIONS[topic_names.AGENT_EVENTS]))
        newest[where] = max(newest.get(where, 0), int(e.occurred_at.timestamp() * 1000))
    with controller(topics, group) as service:  # resumes from its checkpoint, mid-stream
        wait_for(lambda: "rollback" in live.kinds(), timeout_s=90, step=live.read, what="the rollback")
        wait_for(lambda: len(live.seen) >= len(offline), step=live.read, what="every decision")
        # the clock got to the last tool call of every partition, whether or not it decoded them
        wait_for(lambda: service.state.clock.newest == newest, what="the clock at the last tool calls")
        second_run = service.counters["processed"]
        assert service.state.rollouts["refund_ticket"].stage.status == RolloutStatus.ROLLED_BACK
        # tool calls are not read: with headers passed over undecoded, without after the Avro decode
        assert service.counters["not_read"] > 0 and (service.counters["passed_by_header"] > 0) is headers
    assert 0 < second_run < len(events) and first_run < len(events)  # not re-read from the beginning
    rollout_id = start.rollout_command.command_id  # type: ignore[union-attr]
    online = [decision_view(d) for d in sorted(live.seen.values(), key=lambda d: (d.decided_at, d.decision_id))]
    replay_id = offline[0]["rollout_id"]
    assert [comparable(d, rollout_id) for d in online] == [comparable(d, replay_id) for d in offline]
    with WardenClient(topics, max_wait_s=10) as client:  # the SDK sees the rollback on the control topic
        assert {client.release_for("acme", "refund_ticket", f"u{i}").release for i in range(200)} == {"v3"}
