"""The approvals shell: Kafka follower + expiry thread + FastAPI app (approvals and kill switches).

State is rebuilt at start from approvals.requests, approvals.decisions and risk.scores, read
from the beginning, so any replica (and a restarted one) knows every open request; a score no longer
on risk.scores (ADR 0028) is read back from the ledger when the request is listed (details.py).
Every approver authenticates with their own bearer token; the identity the token maps to is
what the decision records.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from confluent_kafka import TopicPartition
from fastapi import Depends, FastAPI, Header, HTTPException, Response
from prometheus_client.core import Metric
from pydantic import BaseModel, Field

from warden.approvals.body_limit import BodyLimit
from warden.approvals.details import UNKNOWN, Details
from warden.approvals.processor import (
    ApprovalError,
    ApprovalsState,
    ScopeError,
    apply,
    decide,
    expire,
    resolve,
    utcnow,
)
from warden.approvals.scopes import ALL, ApproverGrant, identify, refusal_alert
from warden.approvals.settings import ApprovalsSettings
from warden.core import topics
from warden.core.errors import BrokerUnavailableError, DecodeError, DeliveryError, ValidationError, WardenError
from warden.core.records import Alert, ApprovalDecision, ApprovalOutcome, Control, ControlKind, PolicyDecision
from warden.core.switches import revive_refusal
from warden.core.wire import wire_for
from warden.kafka import clients
from warden.kafka.configs import Fetch
from warden.kafka.consume import drain
from warden.kafka.control import ControlView, publish
from warden.runtime.metrics import (
    EXPOSITION,
    SAMPLE_EVERY_S,
    Lag,
    consumer_lag,
    expose,
    gauge,
    lag_family,
    producer_families,
    render,
)

log = logging.getLogger("warden.approvals")
SERVICE = "approvals"
FOLLOWER_GROUP = "warden-approvals-follower"
FOLLOWED = {topics.APPROVAL_REQUESTS: "warden.PolicyDecision", topics.APPROVAL_DECISIONS: "warden.ApprovalDecision",
            topics.RISK_SCORES: "warden.RiskScore"}


class Approvals:
    def __init__(self, settings: ApprovalsSettings) -> None:
        self.settings = settings
        self.state = ApprovalsState()
        self.lock = threading.Lock()
        self._publishing = threading.Lock()
        self._control_lock = threading.Lock()
        self._control: ControlView | None = None  # made on the first revive (the service starts without it)
        self.caught_up = threading.Event()
        self._requests: dict[str, PolicyDecision] = {}
        self.wire = wire_for(settings)
        self.timeout = timedelta(seconds=settings.approval_timeout_s)
        self.details = Details(settings)
        self.producer = clients.producer(settings, linger_ms=1)
        self.consumer = clients.reader(settings, FOLLOWER_GROUP, Fetch(wait_ms=None))
        names = {settings.topic(t): t for t in FOLLOWED}
        metadata = self.consumer.list_topics(timeout=10).topics
        missing = [n for n in names if n not in metadata]
        if missing:
            raise BrokerUnavailableError(f"topics {missing} do not exist at {settings.bootstrap_servers}")
        self.consumer.assign([TopicPartition(n, p, 0) for n in names for p in metadata[n].partitions])
        self._names = names
        self.lags: list[Lag] = []  # sampled by the follower thread, which owns the consumer
        self._sampled_at = 0.0
        self.metrics = expose(self.families)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._follow, daemon=True, name="approvals-follow"),
                         threading.Thread(target=self._expire_loop, daemon=True, name="approvals-expire")]
        for thread in self._threads:
            thread.start()

    def _follow(self) -> None:
        while not self._stop.is_set():
            messages = drain(self.consumer, 500, 0.1)
            if time.monotonic() - self._sampled_at >= SAMPLE_EVERY_S:
                self._sampled_at = time.monotonic()
                self.lags = consumer_lag(self.consumer, FOLLOWER_GROUP)
            if not messages:
                self.caught_up.set()  # nothing more to read: decisions made before we started are known
            for msg in messages:
                if msg.error() is not None or msg.value() is None:
                    continue
                try:
                    record = self.wire.decode(msg.value(), FOLLOWED[self._names[msg.topic() or ""]])
                except (DecodeError, ValidationError):
                    continue  # the ledger-sink dead-letters it
                with self.lock:
                    apply(self.state, record)

    def _expire_loop(self) -> None:
        self.caught_up.wait()  # never expire a request whose decision we have not read yet
        while not self._stop.wait(1.0):
            with self.lock:
                expired = expire(self.state, utcnow(), self.timeout)
                for decision in expired:
                    apply(self.state, decision)
            for decision in expired:
                try:
                    self.publish(decision)
                except WardenError as exc:
                    log.error("expiry of call %s not published, will retry: %s", decision.call_id, exc)
                    with self.lock:
                        self._undo(decision)

    def _undo(self, decision: ApprovalDecision) -> None:
        """Put a decision that could not be published back to pending (called under the lock)."""
        self.state.decided.pop(decision.call_id, None)
        if decision.call_id in self._requests:
            apply(self.state, self._requests[decision.call_id])

    def publish(self, decision: ApprovalDecision) -> None:
        """One decision at a time (API threads and the expiry thread), so a delivery failure is this one's."""
        with self._publishing:
            self.producer.produce(self.settings.topic(topics.APPROVAL_DECISIONS), self.wire.encode(decision),
                                  key=decision.run_id.encode())
            try:
                self.producer.flush_or_raise(15, f"approval decision for call {decision.call_id}")
            except DeliveryError:
                self.producer.forget_failures()  # the caller undoes this decision; the next starts clean
                raise

    def record(self, alert: Alert) -> None:
        """A refused attempt, to the alerts topic (and so the ledger). Best effort: the refusal stands anyway."""
        try:
            with self._publishing:
                self.producer.produce(self.settings.topic(topics.ALERTS), self.wire.encode(alert),
                                      key=alert.tenant_id.encode())
                self.producer.flush_or_raise(15, f"refusal record {alert.alert_id}")
        except WardenError as exc:
            self.producer.forget_failures()
            log.error("refusal not recorded (%s): %s", alert.summary, exc)

    def decide(self, call_id: str, approver: str, outcome: ApprovalOutcome, rationale: str,
               grant: ApproverGrant | None = None) -> ApprovalDecision:
        """One decision per call: it is taken under the lock, so a racing approve/reject/expiry gets 409."""
        if not self.caught_up.is_set():
            raise ApprovalError("the approvals service is still reading earlier decisions; try again shortly", 503)
        with self.lock:
            call_id = resolve(self.state, call_id, grant)  # a full id or a short unique prefix
            decision = decide(self.state, call_id, approver, outcome, rationale, utcnow(), grant, self.timeout)
            self._requests[call_id] = self.state.pending[call_id].request
            apply(self.state, decision)
        try:
            self.publish(decision)
        except WardenError:
            with self.lock:
                self._undo(decision)
            raise
        return decision

    def pending(self, grant: ApproverGrant | None = None) -> list[dict[str, Any]]:
        """`grant`: only the requests of the approver's tenants. Oldest first, each with what the call
        asks (from the ledger, params redacted), why it waits, its risk and how long it has left."""
        now = utcnow()
        with self.lock:  # a request whose time is up is not listed, though its expiry may not be written yet
            items = sorted(((c, p) for c, p in self.state.pending.items()
                            if (grant is None or grant.may_decide(p.request.tenant_id))
                            and p.expires_at(self.timeout) > now),
                           key=lambda i: (i[1].request.decided_at, i[0]))
        found, missing = self.details.of([p.request for _, p in items])
        # a score read off risk.scores, else the ledger's (trimmed from the topic before a restart, ADR 0028)
        scored = self.details.risks([p.request for _, p in items if p.risk is None])
        views = []
        for call_id, p in items:
            request, expires = p.request, p.expires_at(self.timeout)
            details = found.get(request.event_id)
            risk = p.risk or scored.get(request.event_id)
            views.append({
                "call_id": call_id, "run_id": request.run_id, "tenant_id": request.tenant_id,
                **(details or UNKNOWN).view(), "details": "ledger" if details is not None else missing,
                "event_id": request.event_id, "reason": request.reason, "policy_ids": request.policy_ids,
                "requested_at": request.decided_at, "expires_at": expires,
                "age_s": round((now - request.decided_at).total_seconds(), 1),
                "expires_in_s": round(max(0.0, (expires - now).total_seconds()), 1),
                "risk_score": risk.score if risk is not None else None,
                "risk_factors": [{"factor": name, "contribution": value} for name, value in risk.top]
                if risk is not None else [],
            })
        return views

    def families(self) -> list[Metric]:
        with self.lock:
            pending = len(self.state.pending)
        return [gauge("warden_approvals_pending", "Approval requests waiting for a human now", {}, pending),
                lag_family(SERVICE, self.lags),
                *producer_families(SERVICE, self.producer.failures, self.producer.queued())]

    def switches_now(self, timeout_s: float = 10.0) -> dict[str, Control]:
        """The switches in force, read to the control topic's end as it is now (see ControlView.sync)."""
        with self._control_lock:
            if self._control is None:
                self._control = ControlView(self.settings)
            view = self._control
        if not (view.caught_up.wait(timeout_s) and view.sync(timeout_s)):
            raise BrokerUnavailableError(f"the control topic {self.settings.topic(topics.CONTROL)} at "
                                         f"{self.settings.bootstrap_servers} was not read to its end within "
                                         f"{timeout_s:g} s")
        return dict(view.switches.active)

    def close(self) -> None:
        if self._control is not None:
            self._control.close()
        EXPOSITION.remove(self.metrics)
        self._stop.set()
        for thread in self._threads:
            thread.join(5)
        self.consumer.close()
        self.producer.close(5)


class Rationale(BaseModel):
    rationale: str = Field(..., description="Why: required, recorded in the ledger")


class SwitchRequest(BaseModel):
    scope: str = Field(..., description="global | tenant:<id> | workflow:<name> | tool:<tool>[.<action>]")
    reason: str
    read_only: bool = False


def create_app(service: Approvals) -> FastAPI:
    app = FastAPI(title="Warden approvals", version="0.1.0")
    app.add_middleware(BodyLimit, limit=service.settings.approvals_max_body_bytes,
                       setting="WARDEN_APPROVALS_MAX_BODY_BYTES")
    grants = service.settings.grants()

    def approver(authorization: str | None = Header(None)) -> str:
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(401, "an approver token is required: Authorization: Bearer <your token>")
        identity = identify(grants, authorization.removeprefix("Bearer ").strip())
        if identity is None:
            raise HTTPException(401, "unknown approver token")
        return identity

    who_is = Depends(approver)  # a default, not an annotation: annotations are strings in this module

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    def metrics() -> Response:
        body, content_type = render()
        return Response(body, media_type=content_type)

    @app.get("/v1/approvals")
    def pending(who: str = who_is) -> list[dict[str, Any]]:
        return service.pending(grants[who])

    def refuse(who: str, action: str, target: str, tenant_id: str, reason: str) -> HTTPException:
        service.record(refusal_alert(who, action, target, tenant_id, reason, grants[who], utcnow()))
        return HTTPException(403, f"{who} may not {action} {target}: {reason}")

    def _decide(call_id: str, who: str, outcome: ApprovalOutcome, body: Rationale) -> dict[str, Any]:
        try:
            return service.decide(call_id, who, outcome, body.rationale, grants[who]).model_dump(mode="json")
        except ScopeError as exc:
            verb = "approve" if outcome == ApprovalOutcome.APPROVED else "reject"
            raise refuse(who, f"{verb} call", call_id, exc.tenant_id, str(exc)) from exc
        except ApprovalError as exc:
            raise HTTPException(exc.status, str(exc)) from exc
        except WardenError as exc:
            raise HTTPException(503, str(exc)) from exc

    @app.post("/v1/approvals/{call_id}/approve")
    def approve(call_id: str, body: Rationale, who: str = who_is) -> dict[str, Any]:
        return _decide(call_id, who, ApprovalOutcome.APPROVED, body)

    @app.post("/v1/approvals/{call_id}/reject")
    def reject(call_id: str, body: Rationale, who: str = who_is) -> dict[str, Any]:
        return _decide(call_id, who, ApprovalOutcome.REJECTED, body)

    def _switch(body: SwitchRequest, who: str, active: bool) -> dict[str, Any]:
        refused = grants[who].switch_refusal(body.scope)
        if refused is not None:
            tenant = body.scope.removeprefix("tenant:") if body.scope.startswith("tenant:") else ALL
            raise refuse(who, "set" if active else "lift", f"switch {body.scope}", tenant, refused)
        kind = ControlKind.READ_ONLY if body.read_only else ControlKind.KILL
        if body.read_only and body.scope.startswith("tool:"):
            raise HTTPException(422, "read-only mode applies to global, tenant:<id> or workflow:<name>")
        try:
            if not active and (nothing := revive_refusal(service.switches_now(), kind, body.scope)) is not None:
                raise HTTPException(409, nothing)
            return publish(service.settings, kind, body.scope, active, who, body.reason).model_dump(mode="json")
        except ValidationError as exc:
            raise HTTPException(422, str(exc)) from exc
        except WardenError as exc:
            raise HTTPException(503, str(exc)) from exc

    @app.post("/v1/control/kill")
    def kill(body: SwitchRequest, who: str = who_is) -> dict[str, Any]:
        return _switch(body, who, True)

    @app.post("/v1/control/revive")
    def revive(body: SwitchRequest, who: str = who_is) -> dict[str, Any]:
        return _switch(body, who, False)

    from warden.approvals.rollouts import rollout_router

    def may_change_rollout(who: str, action: str, workflow: str) -> None:
        refused = grants[who].switch_refusal(f"workflow:{workflow}")
        if refused is not None:
            raise refuse(who, f"{action} the rollout of", workflow, ALL, refused)

    app.include_router(rollout_router(service.settings, who_is, may_change_rollout))
    return app


def run_service(settings: ApprovalsSettings, stop: threading.Event) -> None:
    import uvicorn

    if not settings.approver_tokens:
        log.warning("no approver tokens configured (WARDEN_APPROVER_TOKENS): nobody can approve or reject")
    service = Approvals(settings)
    server = uvicorn.Server(uvicorn.Config(create_app(service), host=settings.approvals_host,
                                           port=settings.approvals_port, log_level="warning"))

    def stop_server() -> None:
        stop.wait()
        server.should_exit = True

    threading.Thread(target=stop_server, daemon=True).start()
    try:
        server.run()
    finally:
        service.close()
