"""An AgentEvent's routing facts in its Kafka record headers (docs/decisions/0019-routing-headers.md).

Decoding and validating an event costs a service about 30 µs; reading these headers about 0.2 µs. A
service that acts on some event types only passes over the others on the headers alone, and a
service whose event-time clock advances on every event (the rollout-controller, the cost windows)
takes the time from ``warden.time``. The run id is the record key already, so it is not repeated.

The headers are the producer's claim, as the body is: every Warden producer writes both from the
same event, the ledger-sink (which decodes every record anyway) dead-letters a record whose headers
disagree with its body, and a record without them (an older producer, any Kafka client) is decoded
as before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from warden.core.events import AgentEvent, EventType

TYPE = "warden.type"
TIME = "warden.time"  # event time, integer milliseconds since the epoch (UTC), ASCII digits
TENANT = "warden.tenant"
WORKFLOW = "warden.workflow"
EVENT_TYPES = frozenset(t.value for t in EventType)
_KINDS: dict[bytes, str] = {t.encode(): t for t in EVENT_TYPES}  # the same test as decoding and looking up
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_tuple = tuple.__new__  # Routing(...) without the named tuple's own __new__ in Python: on every record read

Headers = list[tuple[str, str | bytes | None]]  # what confluent-kafka's produce() takes
# What a consumed message's headers() gives (confluent-kafka's stubs allow a mapping and str values).
Found = Sequence[tuple[str, str | bytes | None]] | Mapping[str, str | bytes | None] | None


class Routing(NamedTuple):
    """What a service may know of an event without decoding it. A named tuple, not a frozen dataclass: one is
    made for every record a service reads, and a frozen dataclass's init costs four times as much."""

    event_type: str
    occurred_ms: int
    tenant_id: str | None = None
    workflow: str | None = None

    @property
    def occurred_at(self) -> datetime:
        return _EPOCH + self.occurred_ms * _MS


def millis(at: datetime) -> int:
    """Exact (a float timestamp times 1000 can land a millisecond low)."""
    return (at - _EPOCH) // _MS


def event_headers(event: AgentEvent) -> Headers:
    """The headers every Warden producer of agent.events writes with the encoded event."""
    return [(TYPE, event.event_type.value.encode()), (TIME, str(millis(event.occurred_at)).encode()),
            (TENANT, event.tenant_id.encode()), (WORKFLOW, event.workflow.encode())]


def routing_of(headers: Found) -> Routing | None:
    """The routing facts, or None when a record lacks ``warden.type`` or ``warden.time`` or either is not
    what a Warden producer writes: the record is then decoded as before."""
    if not headers:
        return None
    if type(headers) is list and len(headers) == 4:  # what every Warden producer writes, in its order
        (n0, kind_b), (n1, occurred_b), (n2, tenant_b), (n3, workflow_b) = headers
        if n0 == TYPE and n1 == TIME and n2 == TENANT and n3 == WORKFLOW and type(kind_b) is bytes \
                and type(occurred_b) is bytes and type(tenant_b) is bytes and type(workflow_b) is bytes:
            kind = _KINDS.get(kind_b)
            if kind is None or not occurred_b.isdigit() or len(occurred_b) > 15:
                return None
            return _tuple(Routing, (kind, int(occurred_b), tenant_b.decode("utf-8", "replace"),
                                    workflow_b.decode("utf-8", "replace")))
    event_type = occurred = tenant = workflow = None
    for name, found in headers.items() if isinstance(headers, Mapping) else headers:
        if found is None:
            continue
        value = found.encode("utf-8", "surrogateescape") if isinstance(found, str) else found
        if name == TYPE:
            event_type = value
        elif name == TIME:
            occurred = value
        elif name == TENANT:
            tenant = value
        elif name == WORKFLOW:
            workflow = value
    if event_type is None or occurred is None or not occurred.isdigit() or len(occurred) > 15:
        return None
    kind = event_type.decode("ascii", "replace")
    if kind not in EVENT_TYPES:
        return None
    return Routing(kind, int(occurred), tenant.decode("utf-8", "replace") if tenant is not None else None,
                   workflow.decode("utf-8", "replace") if workflow is not None else None)


def routing_from_event(event: AgentEvent) -> Routing:
    """The same facts from a decoded event (a record without headers, replay's lines)."""
    return Routing(event.event_type.value, millis(event.occurred_at), event.tenant_id,
                   event.workflow)


def disagreement(routing: Routing, event: AgentEvent) -> str | None:
    """Why the headers do not describe this event, or None when they do (the ledger-sink's check)."""
    # The event's own facts read directly, not through routing_from_event: the sink asks this of every event.
    for name, found, expected in ((TYPE, routing.event_type, event.event_type.value),
                                  (TIME, routing.occurred_ms, (event.occurred_at - _EPOCH) // _MS),
                                  (TENANT, routing.tenant_id, event.tenant_id),
                                  (WORKFLOW, routing.workflow, event.workflow)):
        if found is not None and found != expected:
            return f"header {name}={found!r} disagrees with the event's {expected!r}"
    return None


def key_disagreement(key: bytes | None, event: AgentEvent) -> str | None:
    """Why a record's Kafka key is not its event's run_id (the contract: agent.events is keyed by run_id, and
    the rollout-controller passes over an event on its key alone), or None. A record without a key is not
    passed over on it (the controller decodes it), so it is not refused here."""
    if key is None or key == event.run_id.encode():
        return None
    return (f"the record key {key.decode('utf-8', 'replace')!r} is not the event's run_id {event.run_id!r} "
            "(agent.events is keyed by run_id)")
