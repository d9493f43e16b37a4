"""The Warden SDK for agent platforms.

    from warden.sdk import WardenClient

    with WardenClient() as warden, warden.run("acme", "refund_ticket", "agent-7") as run:
        run.started("v3", "p2", "gpt-4o-mini")
        call = run.tool_call_requested("payments", "refund", {"order_id": "o1", "amount_usd": 42.0})
        run.tool_call_completed(call, "payments", "ok", latency_ms=180.0, output={"refund_id": "r1"})
        run.completed("succeeded", state_change={"refunded": 42.0})
"""

from warden.sdk.async_client import AsyncRun, AsyncWardenClient
from warden.sdk.client import WardenClient
from warden.sdk.run import Run

__all__ = ["AsyncRun", "AsyncWardenClient", "Run", "WardenClient"]
