"""WardenClient: what an agent platform imports to publish AgentEvents.

The agent must never wait on Warden: ``emit`` validates (a bad event is the caller's bug,
raised at once), encodes and hands the bytes to librdkafka's local queue; a daemon thread
serves delivery reports. Delivery failures surface on the next call, and ``flush``/``close``
give up after a bounded wait with an error naming the broker.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
import uuid
import weakref
from types import TracebackType
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, Message, Producer

from warden.core.errors import BrokerError, BrokerUnavailableError
from warden.core.events import AgentEvent
from warden.core.settings import WardenSettings
from warden.core.topics import AGENT_EVENTS
from warden.core.wire import Wire, wire_for
from warden.sdk.run import Run

if TYPE_CHECKING:
    from warden.policy.control import ControlView
    from warden.sdk.gate import DecisionWatcher, GateVerdict

_open_clients: weakref.WeakSet[WardenClient] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for client in list(_open_clients):
        # Nothing to raise to at interpreter exit; librdkafka has logged the delivery failure.
        with contextlib.suppress(BrokerError):
            client.close()


class WardenClient:
    def __init__(self, settings: WardenSettings | None = None, *, max_wait_s: float = 10.0,
                 producer_config: dict[str, Any] | None = None) -> None:
        self.settings = settings or WardenSettings()
        self.max_wait_s = max_wait_s
        self.topic = self.settings.topic(AGENT_EVENTS)
        self.wire: Wire = wire_for(self.settings)
        self.wire.codec.schema_id("warden.AgentEvent")  # register once, not on the agent's first emit
        self._producer = Producer({
            **self.settings.kafka_config(),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 10,
            "compression.type": "lz4",
            "message.timeout.ms": int(max_wait_s * 1000),
            "queue.buffering.max.messages": 500_000,
            **(producer_config or {}),
        })
        self.stats = {"emitted": 0, "delivered": 0, "failed": 0}
        self._control: ControlView | None = None
        self._gate: DecisionWatcher | None = None
        self._read_only: frozenset[str] = frozenset()
        self._errors: list[str] = []
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="warden-sdk-delivery", daemon=True)
        self._poller.start()
        _open_clients.add(self)

    # -- switches ---------------------------------------------------------------------------------

    def is_enabled(self, tenant_id: str, workflow: str, tool: str = "", action: str = "") -> bool:
        """False while a kill switch (or read-only mode, for a tool not marked read-only) covers the call.

        Served from a local copy of the control topic, kept current in the background: no round
        trip per call, so an agent can check before every tool call and fall back to a human
        queue or read-only behaviour without calling the tool.
        """
        if self._control is None:
            from warden.policy.bundle import DEFAULT_POLICIES, load_bundle
            from warden.policy.control import ControlView

            self._control = ControlView(self.settings)
            self._read_only = load_bundle(DEFAULT_POLICIES).workflow(workflow).read_only_tools
        return self._control.is_enabled(tenant_id, workflow, tool, action, self._read_only)

    # -- the gate ---------------------------------------------------------------------------------

    def gate(self) -> DecisionWatcher:
        """Start following decisions; a call emitted after this can be authorized."""
        if self._gate is None:
            from warden.sdk.gate import DecisionWatcher

            self._gate = DecisionWatcher(self.settings)
        return self._gate

    def authorize(self, call_id: str, timeout_s: float = 10.0) -> GateVerdict:
        """The final verdict on a call emitted after ``gate()``: allow, deny, approved, rejected or expired.

        Waits for the policy decision and, when it requires approval, for the human's answer; no
        verdict within ``timeout_s`` is a deny (fail closed).
        """
        return self.gate().verdict(call_id, timeout_s)

    # -- runs -------------------------------------------------------------------------------------

    def run(self, tenant_id: str, workflow: str, agent_id: str, *, run_id: str | None = None,
            user_id: str | None = None) -> Run:
        return Run(self, tenant_id, workflow, agent_id, run_id or str(uuid.uuid4()), user_id)

    # -- sending ----------------------------------------------------------------------------------

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.1)

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            self.stats["delivered"] += 1
            return
        self.stats["failed"] += 1
        if len(self._errors) < 20:
            self._errors.append(err.str())

    def _raise_failures(self) -> None:
        if self._errors:
            reasons, self._errors = self._errors, []
            raise BrokerUnavailableError(
                f"{self.stats['failed']} event(s) could not be delivered to Kafka at "
                f"{self.settings.bootstrap_servers} within {self.max_wait_s:.0f} s: {reasons[0]}"
            )

    def _prepare(self, event: AgentEvent) -> tuple[bytes, bytes, float]:
        """Report earlier delivery failures, encode, and set the deadline for a full local queue."""
        if self._errors:
            self._raise_failures()
        if not isinstance(event, AgentEvent):
            raise TypeError(f"emit takes an AgentEvent, got {type(event).__name__}")
        return self.wire.encode(event), event.run_id.encode(), time.monotonic() + self.max_wait_s

    def _check_queue_wait(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise BrokerUnavailableError(
                f"the local queue stayed full for {self.max_wait_s:.0f} s: Kafka at "
                f"{self.settings.bootstrap_servers} is not taking events"
            )

    def _produce(self, value: bytes, key: bytes) -> bool:
        """False when librdkafka's local queue is full (the broker is slow or away)."""
        try:
            self._producer.produce(self.topic, value, key=key, on_delivery=self._delivered)
        except BufferError:
            return False
        self.stats["emitted"] += 1
        return True

    def emit(self, event: AgentEvent) -> None:
        """Queue one validated event; returns at once unless the local queue is full."""
        value, key, deadline = self._prepare(event)
        while not self._produce(value, key):
            self._check_queue_wait(deadline)
            time.sleep(0.005)

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every queued event is delivered, or raise after the bounded wait."""
        wait = self.max_wait_s + 1 if timeout_s is None else timeout_s
        remaining = self._producer.flush(wait)
        self._raise_failures()
        if remaining:
            raise BrokerUnavailableError(
                f"{remaining} event(s) not delivered to Kafka at {self.settings.bootstrap_servers} "
                f"after {wait:.0f} s: the broker is unreachable or not accepting writes"
            )

    def close(self) -> None:
        if self._closed.is_set():
            return
        try:
            self.flush()
        finally:
            self._closed.set()
            _open_clients.discard(self)
            if self._control is not None:
                self._control.close()
            if self._gate is not None:
                self._gate.close()

    def __enter__(self) -> WardenClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
