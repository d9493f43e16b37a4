"""What a service declares to the runtime: its inputs and a processor, nothing about Kafka.

A processor is pure: ``step(state, record) -> (state, outputs)``; ``dump``/``restore`` turn its
state into JSON and back for checkpoints. The runtime hands every step a ``Record`` carrying the
record's own id and whether that id was seen before (a bounded memory the runtime keeps and
checkpoints with the state), so a processor is idempotent without writing that itself: with
``dedupe`` on (the default) a re-sent record never reaches ``step`` at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from pydantic import BaseModel

from warden.core.headers import Routing
from warden.core.output import Output
from warden.core.records import DeadLetter
from warden.kafka.configs import Fetch

S = TypeVar("S")


class Role(StrEnum):
    MAIN = "main"  # the processor's own input: a consumer group (or every partition, see Membership)
    # read partition p for each main partition p owned; resumed from the checkpoint, committed for the group too
    COPARTITIONED = "copartitioned"
    BROADCAST = "broadcast"  # every partition from the beginning on every replica (a table: the control topic)


class Scope(StrEnum):
    PARTITION = "partition"  # one state per main partition, moved with it on a rebalance
    WHOLE = "whole"  # one state for everything this replica reads (windows that span partitions)


class Membership(StrEnum):
    GROUP = "group"  # main inputs are shared among the group's replicas
    ALL = "all"  # every partition of the main inputs is read by this replica, positions from its checkpoint


class OnInvalid(StrEnum):
    SKIP = "skip"  # counted as skipped_invalid; the ledger-sink dead-letters it (it lands every topic)
    DEAD_LETTER = "dead_letter"  # a DeadLetter is produced, confirmed delivered before the offset moves


@dataclass(frozen=True)
class Input:
    topic: str  # base name; the runtime adds the deployment's prefix
    record: str  # the Avro record the topic carries, e.g. "warden.AgentEvent"
    role: Role = Role.MAIN
    # Event types acted on: others are passed over on their headers (warden.core.headers) without decoding,
    # or, for a record without them, after the Avro decode and before validation; either way the
    # processor's ``passed`` sees their routing facts (event time for its clock).
    reads: frozenset[str] | None = None
    on_invalid: OnInvalid = OnInvalid.SKIP
    # With ``reads`` and SKIP: the events read are validated as this view of the record's model (only the
    # fields the processor acts on, warden.core.views; ADR 0020) instead of the whole model.
    view: type[BaseModel] | None = None


@dataclass(slots=True)  # not frozen: a frozen init costs a setattr call per field, on every record
class Record:
    topic: str  # base name
    partition: int
    offset: int
    key: str | None
    id: str  # the record's own id (event_id, decision_id, rollup_id...), what the ledger dedupes by
    seen_before: bool  # this id was stepped before (within the runtime's bounded memory)
    value: BaseModel


@dataclass(slots=True)
class Passed:
    """A main-input record of an event type the processor does not read: its routing facts, not its body."""

    topic: str  # base name
    partition: int
    offset: int
    routing: Routing


@dataclass(frozen=True)
class Restored(Generic[S]):
    """A snapshot written before the runtime, read back by the processor that knows its layout."""

    state: S
    positions: dict[tuple[str, int], int]  # base topic, partition -> next offset
    outbox: list[Output]


@dataclass(frozen=True)
class Clock:
    """What ``advance`` knows of the wall clock: the runtime's monotonic time and how long each input
    partition has been read to its end (only with ``Fetch(partition_eof=True)``)."""

    now: float  # time.monotonic()
    quiet_s: float  # since this state's last main record
    at_end: Mapping[tuple[str, int], float] = field(default_factory=dict)  # base topic, partition -> seconds


class Processor(Protocol[S]):
    name: str
    inputs: tuple[Input, ...]

    def initial(self, partition: int) -> S: ...

    def step(self, state: S, record: Record) -> tuple[S, list[Output]]: ...

    def dump(self, state: S) -> Any: ...

    def restore(self, data: Any, partition: int) -> S: ...


class BaseProcessor(Generic[S]):
    """The defaults; a processor overrides what it needs. Class attributes are its declaration."""

    name: ClassVar[str] = "processor"
    inputs: tuple[Input, ...] = ()
    scope: ClassVar[Scope] = Scope.PARTITION
    membership: ClassVar[Membership] = Membership.GROUP
    durable: ClassVar[bool] = True  # False: state lives in memory only; offsets committed after every batch
    dedupe: ClassVar[bool] = True  # skip a record whose id was seen before, before it reaches step
    seen_capacity: int = 20_000  # ids remembered per state; 0: the processor remembers ids itself
    checkpoint_every_s: float = 5.0  # 0: flush and commit after every batch
    batch_max_rows: int = 500
    poll_timeout_s: float = 0.05
    fetch: Fetch = Fetch()
    isolate_failures: ClassVar[bool] = True  # a step that raises is logged, counted and skipped
    failure_counter: ClassVar[str] = "step_failures"
    # Where a WHOLE-scope state is checkpointed (default: the name); PARTITION states live under
    # (the first main topic, partition), as the snapshots written before the runtime did.
    whole_key: str | None = None
    step_counter: ClassVar[str] = "processed"  # counted per record stepped
    commit_sync: ClassVar[bool] = False  # commit offsets synchronously (the ledger-sink's recovery window)
    # A WHOLE-scope state in a GROUP that needs every partition (the alerter's tenant windows): the
    # runtime warns when another replica took some of them.
    needs_every_partition: ClassVar[bool] = False

    def initial(self, partition: int) -> S:
        raise NotImplementedError

    def step(self, state: S, record: Record) -> tuple[S, list[Output]]:
        raise NotImplementedError

    def dump(self, state: S) -> Any:
        raise NotImplementedError

    def restore(self, data: Any, partition: int) -> S:
        raise NotImplementedError

    def passed(self, state: S, record: Passed) -> tuple[S, list[Output]]:
        """A record of an event type outside the input's ``reads``: what its event time alone moves (an
        event-time clock, windows). Replay applies the same rule, so live and replay stay identical."""
        return state, []

    def passed_newest(self, state: S, newest: Mapping[tuple[str, int], int]) -> tuple[S, list[Output]]:
        """Instead of ``passed`` for each: the records passed over since this state's last step, as the newest
        event time (epoch ms) among them per (base topic, partition). For a processor whose ``passed`` only moves
        an event-time clock (each partition's newest time) and then acts on the time reached (the
        rollout-controller): nothing else changed between them, so moving it once per partition and acting once
        makes the same outputs, without a Passed record made and handed over for each. Only called when a
        processor overrides it."""
        raise NotImplementedError

    def wants(self, state: S, routing: Routing, key: str | None) -> bool:
        """Whether a main-input record of an event type in ``reads`` can change more than ``passed`` would,
        from its routing facts and record key alone (the rollout-controller: runs it tracks). False: it is
        passed over like a type outside ``reads``, before decoding and before the memory of ids; replay
        must apply the same rule. Only asked when a processor overrides it."""
        return True

    def tick(self, state: S, quiet_s: float) -> tuple[S, list[Output]]:
        """Wall-clock work (idle flushes). Its outputs have no input offset to re-read, so the runtime
        writes them into the checkpoint (an outbox) before producing them, and re-produces after a crash."""
        return state, []

    def advance(self, state: S, clock: Clock) -> tuple[S, list[Output]]:
        """Wall-clock work after every poll whose outputs follow from records already read (the alerter
        releases what its reorder buffers hold once a partition is idle): produced like a step's outputs,
        not kept in an outbox, because re-reading from the checkpoint makes them again, with the same ids."""
        return state, []

    def assigned(self, state: S, topic: str, partition: int) -> S:
        """An input partition (base topic name) now feeds this state: before any of its records."""
        return state

    def revoked(self, state: S, topic: str, partition: int) -> S:
        """An input partition no longer feeds this state (revoked or lost); a PARTITION state is dropped after."""
        return state

    def due(self, state: S) -> bool | None:
        """Whether to checkpoint now; None (the default): every ``checkpoint_every_s``. A batching sink
        says when its batch is full or old enough."""
        return None

    def room(self, state: S) -> int:
        """How many records the next poll may read into this state (a batching sink's free space)."""
        return self.batch_max_rows

    def dead_letter(self, letter: DeadLetter, spec: Input) -> DeadLetter | None:
        """The letter produced for a record of ``spec`` that cannot be read (OnInvalid.DEAD_LETTER):
        redact or seal it here; None produces none (the dead-letter topic's own unreadable records)."""
        return letter

    def sync(self, state: S) -> S:
        """Make what the records stepped so far owe outside Kafka durable (a sink's outbox), before their
        offsets are committed; the runtime calls it at every checkpoint, after outputs are confirmed."""
        return state

    def refresh(self) -> None:
        """Called once per loop before polling: reload configuration (the policy bundle)."""

    def upgrade(self, snapshot_state: Any, next_offset: int, partition: int) -> Restored[S]:
        """Read a snapshot in this processor's pre-runtime layout (an upgrade in place)."""
        raise NotImplementedError(f"{self.name}: no reader for snapshots written before the runtime")

