"""One exception hierarchy for Warden.

Callers catch ``WardenError`` to handle anything Warden raises on purpose; the
subclasses say which contract was broken so the shells can route the failure
(dead-letter it, refuse the request, exit non-zero) without string matching.
"""

from __future__ import annotations


class WardenError(Exception):
    """Base of every error Warden raises deliberately."""


class ConfigError(WardenError):
    """A setting or file the operator controls is missing or wrong."""


class SchemaError(WardenError):
    """An Avro schema cannot be parsed, registered or found."""


class DecodeError(WardenError):
    """Bytes on a topic are not a record Warden can read (wire format, schema id, Avro body)."""


class ValidationError(WardenError, ValueError):
    """A decoded or caller-built record breaks the event contract (negative tokens, step 0, ...)."""


class BrokerError(WardenError):
    """The Kafka cluster is unreachable or refused an operation."""


class BrokerUnavailableError(BrokerError):
    """No broker answered within the bounded wait."""


class DeliveryError(BrokerError):
    """Produced records were not acknowledged by the broker: the input they came from is not done."""


class StateError(WardenError):
    """A processor's durable state (a snapshot) cannot be written or read back."""


class LedgerError(WardenError):
    """ClickHouse refused or failed a ledger operation."""


class ReadOnlyQueryError(LedgerError):
    """An analyst's query tried to write to the ledger, which is append-only and read-only to queries."""


class QueryLimitError(LedgerError):
    """An analyst's query was stopped by a resource limit (time, rows or bytes read, result size, memory)."""


class TamperedLedgerError(LedgerError):
    """A hash chain did not verify: a ledger record changed after it was written."""


class CacheError(WardenError):
    """The SDK cache's shared store (Redis) failed a read or a write; the SDK treats it as a miss."""
