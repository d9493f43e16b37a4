"""The cyclic garbage collector as a stream service wants it, set once the service has started.

CPython collects its youngest generation every 700 allocations and, now and then, walks every object the
process holds. A service allocates per record (messages, decoded dicts, typed records) and keeps what it
started with (modules, schemas, clients) and its state: each full walk went over all of it. Measured in the
rollout-controller (benchmarks/rollout.py, 40,000 events): one full collection took 0.09 of the run's 0.6 CPU
seconds; in the ledger-sink young collections walked every decoded record of a batch again (37 against 23 µs
an event, benchmarks/sink_stages.py). Records and states hold no reference cycles, so rarer collections
only delay freeing cycles nobody makes; memory stays bounded by the batch and the state.
"""

from __future__ import annotations

import gc

YOUNG = 50_000  # allocations between young collections (CPython's default: 700)


def tune_gc() -> None:
    """What start-up made is never scanned again; young collections are rarer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG, 20, 20)
