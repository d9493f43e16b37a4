"""`is_enabled` from the control topic on the real broker: a new client's first check already sees what was set."""

from __future__ import annotations

from warden.core.records import ControlKind
from warden.core.settings import WardenSettings
from warden.kafka.control import publish
from warden.sdk.client import WardenClient


def test_a_new_clients_first_check_sees_the_switches_set_before_it(topics: WardenSettings) -> None:
    """It answered from the control view before the view had read the topic: True for a killed tenant on a
    client's first call (found by a README walk, twice), so an agent checking first called the tool."""
    publish(topics, ControlKind.KILL, "tenant:acme", True, "oncall@acme", "incident 7")
    publish(topics, ControlKind.READ_ONLY, "workflow:export_report", True, "oncall@acme", "incident 8")
    for _ in range(3):  # each a first call, on a view just opened
        with WardenClient(topics, max_wait_s=10) as client:
            assert not client.is_enabled("acme", "refund_ticket", "payments", "refund")
    with WardenClient(topics, max_wait_s=10) as client:
        assert not client.is_enabled("globex", "export_report", "reports", "export")  # read-only mode
        assert client.is_enabled("globex", "export_report", "crm", "lookup")  # a tool marked read-only
        assert client.is_enabled("globex", "refund_ticket", "payments", "refund")
