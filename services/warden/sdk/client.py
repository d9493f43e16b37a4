"""WardenClient: what an agent platform imports to publish AgentEvents.

The agent must never wait on Warden: ``emit`` validates (a bad event is the caller's bug,
raised at once), encodes and hands the bytes to librdkafka's local queue; a daemon thread
serves delivery reports. Delivery failures surface on the next call, and ``flush``/``close``
give up after a bounded wait with an error naming the broker. With ``sdk_encode="delivery_thread"``
emit only checks and queues, and that thread encodes and produces (warden.sdk.outbox, ADR 0025).
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import logging
import threading
import time
import uuid
import weakref
from collections.abc import Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, ClassVar

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from warden.core.errors import BrokerError, BrokerUnavailableError, ConfigError, SchemaError, WardenError
from warden.core.events import AgentEvent, RunCompleted, ToolCallCompleted, ToolCallRequested
from warden.core.headers import Headers, event_headers
from warden.core.settings import WardenSettings
from warden.core.topics import AGENT_EVENTS
from warden.core.wire import Wire, wire_for
from warden.kafka import clients, configs
from warden.sdk.outbox import Item, Outbox
from warden.sdk.redact import before_producing
from warden.sdk.run import Run

if TYPE_CHECKING:
    from collections.abc import Callable

    from warden.core.records import RolloutStage
    from warden.core.rollout_assign import Assignment
    from warden.core.workflows import Workflow, WorkflowContract
    from warden.kafka.control import ControlView
    from warden.routing.watcher import RoutingWatcher
    from warden.sdk.cache import AnswerCache
    from warden.sdk.gate import DecisionWatcher, GateVerdict

AGENT_EVENT_RECORD = "warden.AgentEvent"
PRODUCER_DEFAULTS = configs.SDK_PRODUCER  # how the SDK batches (and the benchmarks that stand in for agents)

# Delivery errors that mean "no broker took the event in time" rather than "a broker refused it".
_UNAVAILABLE = frozenset({
    KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN,
    KafkaError._RESOLVE, KafkaError._TIMED_OUT_QUEUE,
})

# The text field that can make an event large, per body: past 1/LARGE_SHARE of message.max.bytes in characters
# (up to 4 UTF-8 bytes each, and redaction may lengthen it) the outbox's emit encodes it on the caller's thread,
# so an event over the producer's size limit is refused at the call, as in the default mode.
_LARGE_FIELD: dict[type, str] = {ToolCallCompleted: "output", RunCompleted: "state_change", ToolCallRequested: "params"}
LARGE_SHARE = 8

log = logging.getLogger(__name__)
_open_clients: weakref.WeakSet[WardenClient] = weakref.WeakSet()
_assign: Callable[[RolloutStage | None, str, str], Assignment] | None = None  # warden.core.rollout_assign.assign


def _load_assign() -> Callable[[RolloutStage | None, str, str], Assignment]:
    """Imported on first use, once (an import statement in release_for cost a third of the call), so an SDK
    that never asks for a release does not load it."""
    global _assign
    from warden.core.rollout_assign import assign

    _assign = assign
    return assign


@atexit.register
def _flush_at_exit() -> None:
    for client in list(_open_clients):
        # Nothing to raise to at interpreter exit; librdkafka has logged the delivery failure.
        with contextlib.suppress(WardenError):
            client.close()


def _new_producer(conf: dict[str, Any], compression_chosen_by_caller: bool) -> Producer:
    """lz4 halves the bytes on the wire, but a librdkafka built without it must still work."""
    try:
        return clients.raw_producer(conf)
    except KafkaException as exc:
        if not compression_chosen_by_caller and "compression" in str(exc):
            return _new_producer({**conf, "compression.type": "none"}, True)
        raise ConfigError(f"invalid Kafka producer configuration: {exc.args[0].str()}") from exc


class WardenClient:
    # The asyncio client defers the (possibly remote) schema registration out of the event loop.
    _register_at_init: ClassVar[bool] = True

    def __init__(self, settings: WardenSettings | None = None, *, max_wait_s: float = 10.0,
                 producer_config: dict[str, Any] | None = None) -> None:
        if max_wait_s <= 0:
            raise ConfigError(f"max_wait_s must be positive, got {max_wait_s!r}")
        self.settings = settings or WardenSettings()
        self.max_wait_s = max_wait_s
        self.topic = self.settings.topic(AGENT_EVENTS)
        self.wire: Wire = wire_for(self.settings)
        self._schema_ready = False
        if self._register_at_init:
            self._register_schema()  # once, up front: never on the agent's first emit
        conf = configs.producer_config(self.settings, **{
            **PRODUCER_DEFAULTS,
            # librdkafka wants the linger shorter than the delivery timeout
            "linger.ms": min(PRODUCER_DEFAULTS["linger.ms"], max(0, int(max_wait_s * 1000) - 1)),
            "message.timeout.ms": max(1, int(max_wait_s * 1000)),
            "queue.buffering.max.messages": 500_000,
            **(producer_config or {}),
        })
        self._producer = _new_producer(conf, compression_chosen_by_caller="compression.type" in (producer_config or {}))
        self._max_bytes = int(conf.get("message.max.bytes", 1_000_000))  # librdkafka's default
        # Counters are touched by the caller's threads (emit) and by whichever thread serves
        # delivery reports (the poller, or the caller inside flush): one lock keeps them exact.
        self._lock = threading.Lock()
        self._emitted = 0
        self._delivered_count = 0
        self._failed = 0
        self._unreported = 0  # failures not yet raised to the caller
        self._first_failure: KafkaError | Exception | None = None  # an Exception: the outbox could not encode
        self._control: ControlView | None = None
        self._gate: DecisionWatcher | None = None
        self._read_only: dict[str, frozenset[str]] = {}  # workflow -> its read-only tools (policies/workflows.toml)
        self._workflows: tuple[Workflow, dict[str, Workflow]] | None = None
        self._contracts: dict[str, WorkflowContract] | None = None
        self._cache: AnswerCache | None = None
        self._routing: RoutingWatcher | None = None
        # Routing decisions whose events are built off the agent's path (warden.sdk.routing), sent in order
        # before the next event; `_draining` closes the window between taking one and sending it.
        self._deferred: collections.deque[Callable[[], AgentEvent]] = collections.deque()
        self._draining = False
        self._drain_lock = threading.Lock()
        self._closed = threading.Event()
        self._outbox: Outbox | None = None
        if self.settings.sdk_encode == "delivery_thread":
            self._outbox = Outbox(self, self.settings.sdk_outbox_events)
        self._poller = threading.Thread(target=self._poll, name="warden-sdk-delivery", daemon=True)
        self._poller.start()
        _open_clients.add(self)

    @property
    def stats(self) -> dict[str, int]:
        """A snapshot: events accepted by emit, acknowledged by the broker, and given up on."""
        with self._lock:
            return {"emitted": self._emitted, "delivered": self._delivered_count, "failed": self._failed}

    # -- switches ---------------------------------------------------------------------------------

    def is_enabled(self, tenant_id: str, workflow: str, tool: str = "", action: str = "") -> bool:
        """False while a kill switch (or read-only mode, for a tool not marked read-only) covers the call.

        Served from a local copy of the control topic, kept current in the background: no round
        trip per call, so an agent can check before every tool call and fall back to a human
        queue or read-only behaviour without calling the tool. The first call waits (up to max_wait_s) for the
        view to have read the whole control topic, as release_for's does: a switch set before is in force.
        """
        read_only = self._read_only.get(workflow)
        if read_only is None:
            from warden.core.workflows import load_workflows, workflow_or_default

            if self._workflows is None:
                self._workflows = load_workflows()
            # per workflow: each names its own read-only tools (the first one asked was used for every other)
            read_only = self._read_only[workflow] = workflow_or_default(*self._workflows, workflow).read_only_tools
        view = self._read_view("no switch can be checked")
        return view.is_enabled(tenant_id, workflow, tool, action, read_only)

    def _control_view(self) -> ControlView:
        if self._control is None:
            from warden.kafka.control import ControlView

            self._control = ControlView(self.settings)
        return self._control

    def _read_view(self, what: str) -> ControlView:
        """The control view once it has read the whole control topic (the first call waits up to max_wait_s):
        before that a kill switch set earlier is not known yet, and a check answered then would let the call
        through (fail open). Not read in time: BrokerUnavailableError saying ``what``."""
        view = self._control_view()
        if not view.caught_up.is_set() and not view.caught_up.wait(self.max_wait_s):
            raise BrokerUnavailableError(
                f"the control topic at {self.settings.bootstrap_servers} was not read to its end within "
                f"{self.max_wait_s:g} s (max_wait_s): {what}")
        return view

    def release_for(self, tenant_id: str, workflow: str, unit: str) -> Assignment:
        """Which release to run for `unit` (a user, a ticket, a tenant: you choose what stays together).

        From the local view of the control topic, no round trip: deterministic and sticky (a unit in the
        candidate's 5% stays in it at 25%), the baseline after a rollback, the candidate once complete, and
        ``release=None`` when the workflow has no rollout. While a kill switch covers the tenant's workflow
        (global, tenant, workflow, or tenant + workflow) it returns the workflow's ``fallback`` instead
        (human_queue, rules or read_only, from policies/workflows.toml). Read-only mode is not a kill: the
        run goes on with the release assigned, and `is_enabled` refuses each tool call that is not read-only
        (it returned the fallback, which sent every run of a workflow in read-only mode to the human queue).
        The first call waits (up to max_wait_s) for the view to have read the whole control topic, so a unit
        is not assigned before its rollout is known.
        """
        if not (unit and workflow and tenant_id and isinstance(unit, str) and isinstance(workflow, str)
                and isinstance(tenant_id, str)):
            from warden.core.rollout_assign import names_refused

            raise names_refused(tenant_id, workflow, unit)
        assign = _assign or _load_assign()
        view = self._read_view("no release can be assigned")
        if view.switches.killed(tenant_id, workflow) is not None:
            if self._contracts is None:
                from warden.core.workflows import load_contracts

                self._contracts = load_contracts()
            from warden.core.rollout_assign import Assignment
            from warden.core.workflows import contract_for

            return Assignment(None, fallback=contract_for(self._contracts, workflow).fallback)
        return assign(view.rollouts.get(workflow), workflow, unit)

    @property
    def cache(self) -> AnswerCache:
        """The SDK cache of this client's runs (`run.cache`), its store from WARDEN_CACHE_BACKEND (first use)."""
        if self._cache is None:
            from warden.sdk.cache import AnswerCache

            self._cache = AnswerCache.from_settings()
        return self._cache

    @cache.setter
    def cache(self, cache: AnswerCache) -> None:
        self._cache = cache

    @property
    def routing(self) -> RoutingWatcher:
        """The routing file (WARDEN_ROUTING_FILE, else policies/routing.toml), reloaded when it changes."""
        if self._routing is None:
            from warden.routing.policy import DEFAULT_ROUTING
            from warden.routing.watcher import RoutingWatcher

            self._routing = RoutingWatcher(self.settings.routing_file or DEFAULT_ROUTING)
        return self._routing

    # -- the gate ---------------------------------------------------------------------------------

    def gate(self) -> DecisionWatcher:
        """Start following decisions; a call emitted after this can be authorized."""
        if self._gate is None:
            from warden.sdk.gate import DecisionWatcher

            self._gate = DecisionWatcher(self.settings)
        return self._gate

    def authorize(self, call_id: str, timeout_s: float = 10.0, approval_timeout_s: float = 900.0,
                  risk_timeout_s: float = 2.0, risk_required: bool = False) -> GateVerdict:
        """The final verdict on a call emitted after ``gate()``: allow, deny, approved, rejected or expired.

        Waits up to ``timeout_s`` for the policy decision and, when it requires approval, up to
        ``approval_timeout_s`` more for the human's answer (match the approvals service's timeout);
        no verdict in time is a deny (fail closed). A call policy allows waits up to
        ``risk_timeout_s`` for its risk score; a call the risk-scorer routes to a human waits for
        the human like a policy approval. No score in time allows the call (risk routing fails
        open) unless ``risk_required``.
        """
        return self.gate().verdict(call_id, timeout_s, approval_timeout_s, risk_timeout_s, risk_required)

    # -- runs -------------------------------------------------------------------------------------

    def run(self, tenant_id: str, workflow: str, agent_id: str, *, run_id: str | None = None,
            user_id: str | None = None) -> Run:
        return Run(self, tenant_id, workflow, agent_id, run_id or str(uuid.uuid4()), user_id)

    # -- sending ----------------------------------------------------------------------------------

    def _register_schema(self) -> None:
        """May take a file lock or an HTTP round trip to the registry, so it is kept out of emit."""
        self.wire.codec.schema_id(AGENT_EVENT_RECORD)
        self._schema_ready = True

    def _poll(self) -> None:
        if self._outbox is not None:
            self._outbox.serve(self._closed)
            return
        while not self._closed.is_set():
            self._producer.poll(0.1)

    def _delivered(self, err: KafkaError | None, msg: Message) -> None:
        if err is None:
            with self._lock:
                self._delivered_count += 1
            return
        self._record_failure(err)

    def _record_failure(self, err: KafkaError | Exception) -> None:
        """An event given up on: counted, and raised to the caller on its next call (or flush)."""
        with self._lock:
            self._failed += 1
            self._unreported += 1
            if self._first_failure is None:
                self._first_failure = err

    def _raise_failures(self) -> None:
        with self._lock:
            count, first = self._unreported, self._first_failure
            self._unreported, self._first_failure = 0, None
        if not count or first is None:
            return
        where = f"topic {self.topic!r} on Kafka at {self.settings.bootstrap_servers}"
        if not isinstance(first, KafkaError):  # found on the delivery thread (sdk_encode="delivery_thread")
            kind = SchemaError if isinstance(first, SchemaError) else BrokerError
            raise kind(f"{count} event(s) were not sent to {where}; the first on the SDK's delivery thread: "
                       f"{first}") from first
        if first.code() in _UNAVAILABLE:
            raise BrokerUnavailableError(
                f"{count} event(s) could not be delivered to {where} within {self.max_wait_s:g} s "
                f"(max_wait_s): the broker is unreachable or not accepting writes ({first.str()})"
            )
        raise BrokerError(f"{count} event(s) were refused by {where}: {first.str()}")

    def _prepare(self, event: AgentEvent) -> tuple[bytes, bytes, float]:
        """Report earlier delivery failures, encode, and set the deadline for a full local queue."""
        if self._closed.is_set():
            raise WardenError("this WardenClient is closed: events emitted now would never be delivered")
        if self._unreported:
            self._raise_failures()
        if not isinstance(event, AgentEvent):
            raise TypeError(f"emit takes an AgentEvent, got {type(event).__name__}")
        event = before_producing(event, self.settings.redact_outputs, self.settings.redact_params is True)
        return self.wire.encode(event), event.run_id.encode(), time.monotonic() + self.max_wait_s

    def _check_queue_wait(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise BrokerUnavailableError(
                f"the local queue stayed full for {self.max_wait_s:g} s (max_wait_s): Kafka at "
                f"{self.settings.bootstrap_servers} is not taking events"
            )

    def _produce(self, value: bytes, key: bytes, headers: Headers | None = None) -> bool:
        """False when librdkafka's local queue is full (the broker is slow or away)."""
        try:
            self._producer.produce(self.topic, value, key=key, headers=headers, on_delivery=self._delivered)
        except BufferError:
            return False
        except KafkaException as exc:  # e.g. a fatal idempotence error, an oversized event
            raise BrokerError(
                f"the Kafka producer for {self.settings.bootstrap_servers} refused an event: {exc.args[0].str()}"
            ) from exc
        with self._lock:
            self._emitted += 1
        return True

    def emit_later(self, build: Callable[[], AgentEvent]) -> None:
        """Queue an event to be built and sent before the next one (a routing decision)."""
        if self._closed.is_set():
            raise WardenError("this WardenClient is closed: events emitted now would never be delivered")
        if self._outbox is not None:
            self._queue(build)  # built on the delivery thread, in order with the events around it
            return
        self._deferred.append(build)

    def _drain(self) -> None:
        with self._drain_lock:
            self._draining = True
            try:
                while self._deferred:
                    build = self._deferred.popleft()
                    try:
                        event = build()
                    except WardenError as exc:  # its inputs were checked when it was made: a bug, not the agent's
                        log.error("a routing decision could not be recorded: %s", exc)
                        with self._lock:
                            self._failed += 1
                        continue
                    self._emit(event)
            finally:
                self._draining = False

    def emit(self, event: AgentEvent) -> None:
        """Queue one validated event; returns at once unless the local queue is full."""
        if self._outbox is not None:
            self._queue(self._checked(event))
            return
        if self._deferred or self._draining:
            self._drain()
        self._emit(event)

    # -- the outbox (sdk_encode="delivery_thread") ---------------------------------------------------

    def _checked(self, event: AgentEvent) -> Item:
        """What emit raises at the call, as on the caller's thread: a closed client, earlier failures, not an
        AgentEvent (built, so validated), and an event over the producer's size limit (prepared here)."""
        if self._closed.is_set():
            raise WardenError("this WardenClient is closed: events emitted now would never be delivered")
        if self._unreported:
            self._raise_failures()
        if type(event) is not AgentEvent and not isinstance(event, AgentEvent):
            raise TypeError(f"emit takes an AgentEvent, got {type(event).__name__}")
        field = _LARGE_FIELD.get(type(event.body))
        if field is None:
            return event
        text = getattr(event.body, field)
        if text is None or len(text) * LARGE_SHARE <= self._max_bytes:
            return event
        value, key, _ = self._prepare(event)
        headers = event_headers(event)
        size = len(value) + len(key) + sum(len(n) + len(v or b"") for n, v in headers)
        if size > self._max_bytes:
            raise BrokerError(f"the Kafka producer for {self.settings.bootstrap_servers} refused an event: it is "
                              f"{size} bytes encoded, over message.max.bytes {self._max_bytes}")
        return value, key, headers

    def _queue(self, item: Item) -> None:
        """Into the outbox; a full one is waited out (serving delivery reports) for max_wait_s, then an error."""
        if not self._put_now(item):
            for _ in self._queue_waits(item):
                self._producer.poll(0.005)

    def _put_now(self, item: Item) -> bool:
        """Counted, then into the outbox if it has room (the usual case, without a generator's cost)."""
        assert self._outbox is not None
        with self._lock:  # counted first: the delivery thread may report it delivered before this returns
            self._emitted += 1
        return self._outbox.put(item)

    def _queue_waits(self, item: Item) -> Iterator[None]:
        """After ``_put_now`` found the outbox full: yields each time its caller must wait before trying again (the
        sync client serves delivery reports then, the asyncio one sleeps). Past max_wait_s: BrokerError, and the
        event no longer counted."""
        assert self._outbox is not None
        deadline = time.monotonic() + self.max_wait_s
        try:
            while not self._outbox.put(item):
                self._check_queue_wait(deadline)
                yield
        except BaseException:  # the wait ran out, or was cancelled (asyncio, Ctrl-C): the event is not queued
            with self._lock:
                self._emitted -= 1
            raise

    def _emit(self, event: AgentEvent) -> None:
        value, key, deadline = self._prepare(event)
        headers = event_headers(event)  # routing facts: services pass over what they do not read (ADR 0019)
        while not self._produce(value, key, headers):
            self._check_queue_wait(deadline)
            self._producer.poll(0.005)  # serve delivery reports: they are what frees the queue

    def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every queued event is delivered, or raise after the bounded wait."""
        wait = self.max_wait_s + 1 if timeout_s is None else timeout_s
        if self._deferred or self._draining:
            self._drain()
        queued = 0
        if self._outbox is not None:  # hand over what is queued, here: the delivery thread may be behind
            deadline = time.monotonic() + wait
            self._outbox.hand_over(deadline)
            wait = max(0.0, deadline - time.monotonic())
        remaining = self._producer.flush(wait)
        if self._outbox is not None:
            queued = len(self._outbox)
        self._raise_failures()
        remaining += queued
        if remaining:
            raise BrokerUnavailableError(
                f"{remaining} event(s) not delivered to Kafka at {self.settings.bootstrap_servers} "
                f"after {wait:g} s: the broker is unreachable or not accepting writes"
            )

    def close(self) -> None:
        if self._closed.is_set():
            return
        try:
            self.flush()  # sends the routing decisions still deferred first
        finally:
            self._closed.set()
            if self._outbox is not None:
                self._outbox.wake()
            _open_clients.discard(self)
            if self._poller is not threading.current_thread():
                self._poller.join(5)
            if self._control is not None:
                self._control.close()
            if self._gate is not None:
                self._gate.close()
            if self._cache is not None:
                self._cache.close()

    def __enter__(self) -> WardenClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
