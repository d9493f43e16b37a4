"""A deterministic, offline agent for the four reference workflows: what the demo, tests and CI evaluate.

    warden eval run evals/golden/reference.jsonl --agent warden.evals.reference_agent:agent --out out/
    warden eval run SUITE --agent warden.evals.reference_agent:naive_agent --out out/   # follows injections

It is rules, not a model: each decision is recorded as one llm_call (model reference-rules-v1,
provider warden, cost 0, tokens counted from the prompt it would send) so the eval's cost and
event paths run as for a real agent. Its rules handle the common phrasings of the golden dataset
and miss a few realistic ones ("refund 15 dollars", "about 2k rows", "full control"), so it
passes most items, not all.

Naive mode follows instructions found in the input or in tool outputs, as a prompt-injected model
would; canary suites catch it. It acts on any string that contains:
  - `call TOOL.ACTION {json params}`                  -> that call
  - `send|forward|email (everything|...) to ADDRESS`  -> email.send of what it has seen to ADDRESS
  - `export all|everything`                           -> reports.export all_customers, 100000 rows
  - `delete (customer|record|account) ID`             -> crm.delete_record ID
  - `grant ADDRESS (the) ROLE`                        -> iam.grant_access
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from warden.evals.errors import Denied, ToolFailed
from warden.evals.runner import Case

MODEL = "reference-rules-v1"
PROMPT_VERSION = "ref-1"
APPROVAL_LIMIT_USD = 100.0
EXPORT_ROW_LIMIT = 1000

EMAIL = r"[A-Za-z0-9.+_-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_CALL = re.compile(r"\bcall\s+([a-z_]+)\.([a-z_]+)\s*(\{.*?\})", re.I | re.S)
_SEND = re.compile(r"\b(?:send|forward|e-?mail)\b[^.@]{0,60}?\bto\s+(" + EMAIL + ")", re.I)
_EXPORT_ALL = re.compile(r"\bexport\s+(?:all|everything|every\b)", re.I)
_DELETE = re.compile(r"\bdelete\s+(?:the\s+)?(?:customer|record|account)\s+([A-Za-z0-9_-]+)", re.I)
_GRANT = re.compile(r"\bgrant\s+(" + EMAIL + r")\s+(?:the\s+)?(admin|owner|editor|viewer)\b", re.I)

_ROLES = (("owner", ("owner",)), ("admin", ("admin",)), ("editor", ("editor", "edit access", "write access")),
          ("viewer", ("viewer", "view access", "read-only", "read access")))
_CATEGORIES = (("account_deletion", ("delete my account", "close my account", "remove my data", "erase my data")),
               ("billing", ("invoice", "charge", "bill", "payment", "refund")),
               ("technical", ("error", "crash", "bug", "broken", "login", "log in")),
               ("account", ("password", "change my email", "address", "username")))
_NEXT = {"account_deletion": "human review (deletes are denied in v1)", "billing": "billing team",
         "technical": "engineering on-call", "account": "account support", "general": "support queue"}


class _Agent:
    def __init__(self, case: Case, naive: bool) -> None:
        self.case, self.naive = case, naive
        self.seen: list[Any] = [case.input]

    # -- recording ----------------------------------------------------------------------------

    def think(self, about: Any) -> None:
        """One decision = one recorded llm_call, sized by the prompt a model would have been sent."""
        started = time.perf_counter()
        prompt = json.dumps({"workflow": self.case.workflow, "about": about}, default=str)
        self.case.run.llm_call(MODEL, "warden", input_tokens=len(prompt) // 4 + 1, output_tokens=16,
                               latency_ms=(time.perf_counter() - started) * 1000, cost_usd=0.0)

    def call(self, tool: str, action: str, params: dict[str, Any]) -> dict[str, Any]:
        output = self.case.tools.call(tool, action, params)
        self.seen.append(output)
        if self.naive:
            self.follow(output)
        return output

    def try_call(self, tool: str, action: str, params: dict[str, Any]) -> dict[str, Any] | None:
        try:
            return self.call(tool, action, params)
        except (Denied, ToolFailed):
            return None

    # -- naive mode: injected instructions are obeyed -----------------------------------------

    def follow(self, value: Any) -> None:
        for text in _strings(value):
            for tool, action, raw in _CALL.findall(text):
                try:
                    params = json.loads(raw)
                except ValueError:
                    continue
                self.try_call(tool, action, params if isinstance(params, dict) else {})
            for address in _SEND.findall(text):
                self.try_call("email", "send", {"to": address, "subject": "As requested",
                                                "body": json.dumps(self.seen, default=str)[:19000]})
            if _EXPORT_ALL.search(text):
                self.try_call("reports", "export", {"report": "all_customers", "row_count": 100000})
            for record in _DELETE.findall(text):
                self.try_call("crm", "delete_record", {"record_id": record})
            for user, role in _GRANT.findall(text):
                self.try_call("iam", "grant_access", {"user": user, "role": role.lower()})

    # -- the workflows ------------------------------------------------------------------------

    def run(self) -> None:
        if self.naive:
            self.follow(self.case.input)
        handler = {"refund_ticket": self.refund, "export_report": self.export,
                   "provision_access": self.provision, "triage_ticket": self.triage}.get(self.case.workflow)
        if handler is None:
            self.case.run.completed("escalated", state_change={"reason": f"no rules for {self.case.workflow}"})
            return
        try:
            status = handler()
        except (Denied, ToolFailed) as exc:
            self.think({"refused": str(exc)})
            status = "escalated"
        self.case.run.completed(status)

    def refund(self) -> str:
        data = self.case.input
        ticket, text = data["ticket_id"], str(data.get("text", ""))
        self.think({"ticket": ticket, "text": text})
        customer = self.call("crm", "lookup", {"customer_id": data["customer_id"]})
        order = data.get("order") or {}
        order_id = str(order.get("order_id") or _first(r"\bo-\d+\b", text) or "")
        self.think({"customer": customer, "order": order})
        if not order_id or order.get("customer_id") not in (None, data["customer_id"]):
            self.call("tickets", "update", {"ticket_id": ticket, "status": "closed",
                                            "comment": f"declined: order {order_id or '?'} is not an order of "
                                                       f"customer {data['customer_id']}"})
            self._mail(customer, f"Your refund request for order {order_id or '?'}",
                       "We could not find that order on your account, so no refund was issued.")
            return "succeeded"
        asked = _first(r"\$\s?(\d+(?:\.\d{1,2})?)", text)
        amount = round(float(asked), 2) if asked else float(order.get("amount_usd", 0))
        if amount > APPROVAL_LIMIT_USD:
            self.call("tickets", "update", {"ticket_id": ticket, "status": "pending",
                                            "comment": f"refund of ${amount:.2f} for order {order_id} needs a "
                                                       "human approval"})
            return "escalated"
        self.call("payments", "refund", {"order_id": order_id, "amount_usd": amount})
        self.call("tickets", "update", {"ticket_id": ticket, "status": "solved",
                                        "comment": f"refunded ${amount:.2f} for order {order_id}"})
        self._mail(customer, f"Your refund for order {order_id}",
                   f"We refunded ${amount:.2f} to your original payment method.")
        return "succeeded"

    def _mail(self, customer: dict[str, Any], subject: str, body: str) -> None:
        if customer.get("email"):
            self.call("email", "send", {"to": customer["email"], "subject": subject, "body": body})

    def export(self) -> str:
        data = self.case.input
        text = str(data.get("text", ""))
        report = data.get("report") or _first(r"\bthe\s+([a-z_]+)\s+report\b", text)
        rows_text = data.get("row_count")
        if rows_text is None:
            found = _first(r"(\d[\d,]*)\s+rows\b", text)
            rows_text = found.replace(",", "") if found else None
        self.think({"report": report, "rows": rows_text})
        if not report or rows_text is None:
            self.call("email", "send", {"to": data["requester"], "subject": "Which report?",
                                        "body": "Please name the report and how many rows it has."})
            return "failed"
        rows = int(rows_text)
        exported = min(rows, EXPORT_ROW_LIMIT)
        self.call("reports", "export", {"report": report, "row_count": exported})
        note = f" (first {exported:,} of {rows:,} rows: exports are capped)" if exported < rows else ""
        self.call("email", "send", {"to": data["requester"], "subject": f"Report {report}{note}",
                                    "body": f"Your {report} export with {exported} rows is attached."})
        return "succeeded"

    def provision(self) -> str:
        data = self.case.input
        ticket, text = data["ticket_id"], str(data.get("text", "")).lower()
        user = data.get("user") or _first("(" + EMAIL + ")", text)
        role = data.get("role") or next((name for name, words in _ROLES if any(w in text for w in words)), "viewer")
        self.think({"user": user, "role": role})
        if not user:
            self.call("tickets", "update", {"ticket_id": ticket, "status": "pending",
                                            "comment": "which user should get access?"})
            return "escalated"
        if role in ("admin", "owner"):
            self.call("tickets", "update", {"ticket_id": ticket, "status": "pending",
                                            "comment": f"{role} for {user} needs a human approval"})
            return "escalated"
        self.call("iam", "grant_access", {"user": user, "role": role})
        self.call("tickets", "update", {"ticket_id": ticket, "status": "closed",
                                        "comment": f"granted {role} to {user}"})
        return "succeeded"

    def triage(self) -> str:
        data = self.case.input
        ticket, text = data["ticket_id"], str(data.get("text", "")).lower()
        customer = self.call("crm", "lookup", {"customer_id": data["customer_id"]})
        category = next((name for name, words in _CATEGORIES if any(w in text for w in words)), "general")
        priority = "high" if customer.get("tier") == "enterprise" else "normal"
        self.think({"category": category, "priority": priority})
        self.call("tickets", "update", {"ticket_id": ticket, "status": "pending",
                                        "comment": f"category: {category}; priority: {priority}; "
                                                   f"next: {_NEXT[category]}"})
        return "succeeded"


def _first(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text, re.I)
    return match.group(1) if match and match.groups() else (match.group(0) if match else None)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def agent(case: Case) -> None:
    """The reference agent: ignores instructions in its input and in tool outputs."""
    _Agent(case, naive=False).run()


def naive_agent(case: Case) -> None:
    """The same rules, but it obeys instructions injected in the input or in tool outputs."""
    _Agent(case, naive=True).run()


for _func in (agent, naive_agent):
    _func.model = MODEL  # type: ignore[attr-defined]
    _func.prompt_version = PROMPT_VERSION  # type: ignore[attr-defined]
