"""Redaction before an event leaves the agent's process: what reaches Kafka is what may rest there.

Outputs (and a run's state change) are redacted by default (``WARDEN_REDACT_OUTPUTS``): nothing
downstream needs a customer's e-mail address or a leaked key from a tool's answer, and the ledger
counts the tokens it finds as redactions. Params are sent as they are unless
``WARDEN_REDACT_PARAMS=true``: the stream policy-evaluator and risk-scorer decide on them (an
amount, a recipient's domain), so redacting them changes decisions. The ledger-sink redacts both
again before storage whatever the SDK did.
"""

from __future__ import annotations

from warden.core.events import AgentEvent, RunCompleted, ToolCallCompleted, ToolCallRequested
from warden.core.redaction import redact


def before_producing(event: AgentEvent, outputs: bool, params: bool) -> AgentEvent:
    body = event.body
    update: dict[str, str | None] = {}
    if outputs and isinstance(body, ToolCallCompleted) and body.output:
        update["output"] = redact(body.output).text
    elif outputs and isinstance(body, RunCompleted) and body.state_change:
        update["state_change"] = redact(body.state_change).text
    elif params and isinstance(body, ToolCallRequested) and body.params:
        update["params"] = redact(body.params).text
    changed = {k: v for k, v in update.items() if v != getattr(body, k)}
    if not changed:
        return event
    return event.model_copy(update={"body": body.model_copy(update=changed)})
