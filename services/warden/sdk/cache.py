"""The SDK cache for repeated answers and embeddings: `run.cache.lookup(...)`, `run.cache.record(...)`.

    hit = run.cache.lookup("gpt-4o-mini", prompt)             # a hit is recorded as a cached llm_call
    if hit is not None:
        answer = hit.output
    else:
        answer, usage = call_the_model(prompt)
        run.cache.record("gpt-4o-mini", "openai", prompt, answer, usage.input, usage.output, latency_ms=640.0)

Entries are per tenant, keyed on model + kind + normalised input (warden.cache.keys), kept for the
workflow's `cache_ttl_s` from when the answer was made. `record` runs the ledger's redactor over the input
and the output: what it finds is recorded on the event (`cache_pii`, the kinds only) and the answer is
never stored. Otherwise the answer waits until the run shows it led to no side-effecting tool call, then
is stored (warden.cache.decide, the same decisions `warden replay` makes). A store that fails (Redis
down) is a miss, counted in `stats`: the cache never fails an agent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from warden.cache import decide
from warden.cache.backends import CacheBackend, Entry, backend_for
from warden.cache.keys import as_text, cache_key
from warden.cache.rules import CacheRules
from warden.core.errors import CacheError
from warden.core.events import AgentEvent, EventType, LlmCall
from warden.core.redaction import redact
from warden.core.wire import validate

if TYPE_CHECKING:
    from warden.sdk.run import Run

log = logging.getLogger("warden.sdk.cache")


class CacheSettings(BaseSettings):
    """WARDEN_CACHE_BACKEND: `memory` (this process) or `redis://host:6379/0` (shared by every replica)."""

    model_config = SettingsConfigDict(env_prefix="WARDEN_CACHE_", env_file="warden.env", extra="ignore",
                                      frozen=True)

    backend: str = "memory"
    max_entries: int = 10_000  # the in-process backend's size
    key_prefix: str = "warden:cache:"
    timeout_s: float = 0.5  # a Redis read or write slower than this is a miss


@dataclass(frozen=True)
class CacheHit:
    output: Any
    event: AgentEvent  # the cached llm_call recorded for it
    entry: Entry


class CacheBook:
    """What a cache decides, whatever its store (sync here, asyncio in warden.sdk.async_cache): the rules,
    the stats, the decider's state of every run the client records and the answers waiting for a decision."""

    def __init__(self, rules: CacheRules | None = None,
                 on_decision: Callable[[decide.CacheDecision], None] | None = None) -> None:
        self.rules = rules or CacheRules.load()
        self.on_decision = on_decision
        self.stats: Counter[str] = Counter()
        self._decider = decide.DeciderState()
        self._outputs: dict[str, tuple[Any, LlmCall]] = {}  # llm_call event id -> what to store once decided
        self._lock = threading.Lock()

    def hold(self, event: AgentEvent, output: Any, body: LlmCall) -> None:
        with self._lock:
            self._outputs[event.event_id] = (output, body)

    def decided(self, event: AgentEvent) -> list[tuple[decide.CacheDecision, Entry | None]]:
        """The decisions `event` brings (warden.cache.decide), each with the entry to store, if any."""
        with self._lock:
            decisions = decide.step(self._decider, self.rules, event)
            held = [(d, self._outputs.pop(d.event_id, None)) for d in decisions]
        out: list[tuple[decide.CacheDecision, Entry | None]] = []
        for decision, output in held:
            self.stats[decision.decision.value] += 1
            entry = None
            if decision.decision is decide.Verdict.STORED and output is not None and decision.expires_at is not None:
                value, body = output
                entry = Entry(value, body.model, body.provider, body.input_tokens, body.output_tokens, body.cost_usd,
                              decision.answered_at, decision.expires_at, decision.event_id)
            out.append((decision, entry))
        return out

    def store_failed(self, exc: CacheError, what: str) -> None:
        self.stats["backend_errors"] += 1
        log.warning("%s; %s", exc, what)

    def report(self, decision: decide.CacheDecision) -> None:
        if self.on_decision is not None:
            self.on_decision(decision)


class AnswerCache(CacheBook):
    """One per client: the store, the rules and the decisions of every run the client records."""

    def __init__(self, backend: CacheBackend | None = None, rules: CacheRules | None = None,
                 on_decision: Callable[[decide.CacheDecision], None] | None = None) -> None:
        super().__init__(rules, on_decision)
        self.backend = backend or backend_for("memory")

    @classmethod
    def from_settings(cls, settings: CacheSettings | None = None) -> AnswerCache:
        s = settings or CacheSettings()
        return cls(backend_for(s.backend, s.max_entries, s.key_prefix, s.timeout_s))

    def get(self, tenant_id: str, key: str, at: datetime) -> Entry | None:
        try:
            return self.backend.get(tenant_id, key, at)
        except CacheError as exc:
            self.store_failed(exc, "served as a miss")
            return None

    def observe(self, event: AgentEvent) -> None:
        """Every event of a run that used the cache: the decisions it brings, carried out."""
        for decision, entry in self.decided(event):
            if entry is not None:
                try:
                    self.backend.put(decision.tenant_id, decision.cache_key, entry)
                except CacheError as exc:
                    self.store_failed(exc, "the answer is not kept")
            self.report(decision)

    def close(self) -> None:
        self.backend.close()


def hit_body(entry: Entry, key: str, latency_ms: float, route: str | None) -> LlmCall:
    """The cached llm_call a hit is recorded as: no tokens, no cost, what the entry's call cost saved."""
    return validate(LlmCall, {
        "model": entry.model, "provider": entry.provider, "input_tokens": 0, "output_tokens": 0,
        "latency_ms": latency_ms, "cost_usd": 0.0, "route": route,
        "cache_key": key, "cache_hit": True, "saved_input_tokens": entry.input_tokens,
        "saved_output_tokens": entry.output_tokens, "saved_usd": entry.cost_usd})


def offer_body(key: str, model: str, provider: str, input: Any, output: Any, input_tokens: int,
               output_tokens: int, latency_ms: float, cached_tokens: int, cost_usd: float | None,
               route: str | None) -> LlmCall:
    """The model call offered to the cache, with the kinds of PII the ledger's redactor found in its input or
    output (`cache_pii`, never the text): an answer with any is never stored."""
    found = redact(as_text(input)).counts
    for kind_found, n in redact(as_text(output)).counts.items():
        found[kind_found] = found.get(kind_found, 0) + n
    pii = ",".join(sorted(k for k, n in found.items() if n)) or None
    return validate(LlmCall, {
        "model": model, "provider": provider, "input_tokens": input_tokens, "output_tokens": output_tokens,
        "cached_tokens": cached_tokens, "latency_ms": latency_ms, "cost_usd": cost_usd, "route": route,
        "cache_key": key, "cache_pii": pii})


def enabled(book: CacheBook, workflow: str) -> bool:
    if book.rules.for_workflow(workflow).enabled:
        return True
    book.stats["disabled"] += 1
    return False


class RunCache:
    """`run.cache`: lookups and offers of one run, recorded as its llm_call events."""

    def __init__(self, run: Run, cache: AnswerCache) -> None:
        self.run, self.cache = run, cache

    def key(self, model: str, input: Any, kind: str = "answer") -> str:
        return cache_key(self.run.events.tenant_id, model, kind, input)

    def lookup(self, model: str, input: Any, *, kind: str = "answer",
               at: datetime | None = None, route: str | None = None) -> CacheHit | None:
        """The cached answer for this input, recorded as a cached llm_call; None: call the model, then `record`."""
        events = self.run.events
        if not enabled(self.cache, events.workflow):
            return None
        started = time.perf_counter()
        key = self.key(model, input, kind)
        when = at or datetime.now(UTC)
        entry = self.cache.get(events.tenant_id, key, when)
        if entry is None:
            self.cache.stats["misses"] += 1
            return None
        body = hit_body(entry, key, (time.perf_counter() - started) * 1000, route)
        with events.lock:
            event = events.build(EventType.LLM_CALL, body, when)
            self.run.client.emit(event)
        self.cache.observe(event)
        return CacheHit(entry.output, event, entry)

    def record(self, model: str, provider: str, input: Any, output: Any, input_tokens: int,
               output_tokens: int, latency_ms: float, *, kind: str = "answer", cached_tokens: int = 0,
               cost_usd: float | None = None, route: str | None = None, at: datetime | None = None) -> AgentEvent:
        """Record the model call (as `run.llm_call` does) and offer its answer to the cache."""
        body = offer_body(self.key(model, input, kind), model, provider, input, output, input_tokens, output_tokens,
                          latency_ms, cached_tokens, cost_usd, route)
        events = self.run.events
        with events.lock:
            event = events.build(EventType.LLM_CALL, body, at)
            if body.cache_pii is None:
                self.cache.hold(event, output, body)  # before it is observed: the decision may come at once
            self.run.client.emit(event)
        self.cache.observe(event)
        return event


def cache_of(client: object) -> AnswerCache:
    """The client's cache (WardenClient.cache); a client without one (an eval's recorder) gets its own."""
    found = getattr(client, "cache", None)
    if isinstance(found, AnswerCache):
        return found
    with _default_lock:
        global _default
        if _default is None:
            _default = AnswerCache.from_settings()
        return _default


_default: AnswerCache | None = None
_default_lock = threading.Lock()
