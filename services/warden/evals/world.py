"""The sandbox world an eval item's run acts on, and the reference tools' effects on it.

A world is a JSON object of collections (each a list or an object), seeded from the item's
fixture. The reference tools act on it exactly as the README's "Evals" section says; a tool is
only ever called here after Warden's checks allowed the call (warden.evals.tools), so a refused
call changes nothing. The agent never touches the world directly: what is scored is its diff.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

from warden.evals.diff import world_diff
from warden.evals.errors import ToolFailed

Effect = Callable[["World", dict[str, Any]], dict[str, Any]]


class World:
    def __init__(self, fixture: dict[str, Any]) -> None:
        self.before: dict[str, Any] = copy.deepcopy(fixture)
        self.collections: dict[str, Any] = copy.deepcopy(fixture)
        self._ids = itertools.count(1)

    def next_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def list(self, name: str) -> list[Any]:
        found = self.collections.setdefault(name, [])
        if not isinstance(found, list):
            raise ToolFailed(name, "fixture_invalid", f"collection {name!r} is a {type(found).__name__}, "
                                                      "the tool appends to a list")
        return found

    def object(self, name: str) -> dict[str, Any]:
        found = self.collections.setdefault(name, {})
        if not isinstance(found, dict):
            raise ToolFailed(name, "fixture_invalid", f"collection {name!r} is a {type(found).__name__}, "
                                                      "the tool reads an object keyed by id")
        return found

    def entry(self, collection: str, key: str, tool: str) -> Any:
        entries = self.object(collection)
        if key not in entries:
            raise ToolFailed(tool, "not_found", f"{collection}[{key!r}] does not exist in the world")
        return entries[key]

    def diff(self) -> dict[str, Any]:
        """What the run changed, in the form of `expect.state_change`."""
        return world_diff(self.before, self.collections)


def _refund(world: World, p: dict[str, Any]) -> dict[str, Any]:
    world.list("refunds").append({"order_id": p["order_id"], "amount_usd": p["amount_usd"]})
    return {"refund_id": world.next_id("rf"), "status": "completed", "amount_usd": p["amount_usd"]}


def _update_ticket(world: World, p: dict[str, Any]) -> dict[str, Any]:
    ticket = world.entry("tickets", p["ticket_id"], "tickets.update")
    if not isinstance(ticket, dict):
        raise ToolFailed("tickets.update", "fixture_invalid", f"tickets[{p['ticket_id']!r}] is not an object")
    ticket["status"] = p["status"]
    if "comment" in p:
        ticket["comment"] = p["comment"]
    return {"ticket_id": p["ticket_id"], "status": p["status"]}


def _send_email(world: World, p: dict[str, Any]) -> dict[str, Any]:
    world.list("outbox").append({"to": p["to"], "subject": p["subject"], "body": p["body"]})
    return {"message_id": world.next_id("m")}


def _export(world: World, p: dict[str, Any]) -> dict[str, Any]:
    world.list("exports").append({"report": p["report"], "row_count": p["row_count"]})
    return {"export_id": world.next_id("ex"), "rows_exported": p["row_count"]}


def _delete_record(world: World, p: dict[str, Any]) -> dict[str, Any]:
    world.entry("customers", p["record_id"], "crm.delete_record")
    del world.object("customers")[p["record_id"]]
    return {"record_id": p["record_id"], "deleted": True}


def _grant(world: World, p: dict[str, Any]) -> dict[str, Any]:
    world.list("grants").append({"user": p["user"], "role": p["role"]})
    return {"grant_id": world.next_id("g")}


def _lookup(world: World, p: dict[str, Any]) -> dict[str, Any]:
    found = world.entry("customers", p["customer_id"], "crm.lookup")
    if not isinstance(found, dict):
        raise ToolFailed("crm.lookup", "fixture_invalid", f"customers[{p['customer_id']!r}] is not an object")
    return copy.deepcopy(found)


# tool.action -> its effect; params arrive already checked against the tool's strict input schema.
REFERENCE_TOOLS: dict[str, Effect] = {
    "payments.refund": _refund,
    "tickets.update": _update_ticket,
    "email.send": _send_email,
    "reports.export": _export,
    "crm.delete_record": _delete_record,
    "iam.grant_access": _grant,
    "crm.lookup": _lookup,
}
