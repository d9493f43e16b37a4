"""The SDK redacts before producing: outputs by default, params when asked, so what rests on Kafka
(the raw topic, kept for its retention) holds no customer's PII or leaked key from a tool's answer."""

from __future__ import annotations

import json

import pytest

from tests.sdk.test_client import assert_one_run_in_order, read_back
from warden.core.events import RunCompleted, ToolCallCompleted, ToolCallRequested
from warden.core.settings import WardenSettings
from warden.sdk import WardenClient

OUTPUT = {"customer": "jöhn.müller@exämple.de", "iban": "DE89 3704 0044 0532 0130 00", "refund_id": "r1"}
PARAMS = {"order_id": "o1", "amount_usd": 42.0, "notify": "jane.doe@example.com"}


@pytest.mark.integration
@pytest.mark.parametrize("redact_params", [False, True])
def test_outputs_leave_redacted_and_params_only_when_asked(topics: WardenSettings, redact_params: bool) -> None:
    settings = topics.model_copy(update={"redact_params": redact_params})
    with WardenClient(settings) as client, client.run("acme", "refund_ticket", "agent-1") as run:
        call = run.tool_call_requested("payments", "refund", PARAMS)
        run.tool_call_completed(call, "payments", "ok", 180.0, output=OUTPUT)
        run.completed("succeeded", state_change={"contact": "+1 415 555 0100"})
    requested, completed, finished = assert_one_run_in_order(read_back(topics, 3), run.run_id, 3)
    assert isinstance(completed.body, ToolCallCompleted) and isinstance(finished.body, RunCompleted)
    assert json.loads(completed.body.output or "") == {
        "customer": "[REDACTED:email]", "iban": "[REDACTED:iban]", "refund_id": "r1"}
    assert "415" not in (finished.body.state_change or "")
    assert isinstance(requested.body, ToolCallRequested)
    params = json.loads(requested.body.params or "")
    assert params["amount_usd"] == 42.0  # what policy decides on is never touched
    assert (params["notify"] == "[REDACTED:email]") is redact_params


@pytest.mark.integration
def test_output_redaction_can_be_turned_off(topics: WardenSettings) -> None:
    settings = topics.model_copy(update={"redact_outputs": False})
    with WardenClient(settings) as client, client.run("acme", "refund_ticket", "agent-1") as run:
        run.tool_call_completed("c1", "payments", "ok", 1.0, output=OUTPUT)
    [completed] = assert_one_run_in_order(read_back(topics, 1), run.run_id, 1)
    assert isinstance(completed.body, ToolCallCompleted)
    assert json.loads(completed.body.output or "") == OUTPUT
