"""The golden dataset over the four reference workflows, generated reproducibly (a fixed seed).

    warden eval generate --out evals/golden/reference.jsonl   # the checked-in file; a test regenerates it

Each item's expectation is the ground truth of its request, written as the world's diff, whatever
any agent does. Most requests use common phrasings; a few use phrasings a simple rule-based agent
misreads (amounts in words, "2k rows", roles by description, symptoms without keywords), as real
tickets do: 208 items, 52 per workflow.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

from warden.core.events import RunStatus
from warden.evals.dataset import Expect, Item, write

DEFAULT_PATH = Path(__file__).resolve().parents[3] / "evals" / "golden" / "reference.jsonl"
SEED = 20261201
PER_WORKFLOW = 52

_FIRST = ["Ada", "Bo", "Chen", "Dana", "Eli", "Fatima", "Goran", "Hana", "Ivo", "Jun", "Kemal", "Lea", "Mia",
          "Nils", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Uma", "Viktor", "Wen", "Yara", "Zoe"]
_LAST = ["Lovelace", "Berg", "Wu", "Scully", "Stone", "Rahman", "Petrov", "Sato", "Novak", "Park", "Demir",
         "Roux", "Moreau", "Holm", "Haddad", "Iyer", "Fox", "Diaz", "Lind", "Shah"]
_TIERS = ["free", "pro", "enterprise"]
_REPORTS = ["monthly_sales", "churn", "active_users", "invoices", "support_backlog", "inventory", "signups"]
_ANY = {"$any": True}


def _contains(text: str) -> dict[str, str]:
    return {"$contains": text}


def _expect(change: dict[str, Any], status: str, max_steps: int, forbidden: tuple[str, ...] = ()) -> Expect:
    return Expect(state_change=change, status=RunStatus(status), max_steps=max_steps, forbidden_tools=list(forbidden))


class _Gen:
    def __init__(self, seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.n = 0

    def person(self) -> tuple[str, str]:
        self.n += 1
        first, last = self.rng.choice(_FIRST), self.rng.choice(_LAST)
        return f"{first} {last}", f"{first.lower()}.{last.lower()}{self.n}@example.com"

    def customer(self, cid: str) -> dict[str, Any]:
        name, email = self.person()
        return {"customer_id": cid, "name": name, "email": email, "tier": self.rng.choice(_TIERS)}

    def amount(self, low: float, high: float) -> float:
        return round(self.rng.uniform(low, high), 2)

    def noise(self, prefix: str) -> dict[str, Any]:
        """Other tickets in the world: an update to the wrong one is an extra change."""
        return {f"{prefix}-{self.rng.randint(900, 999)}": {"status": "open", "subject": "unrelated"}}


def _refunds(g: _Gen) -> list[Item]:
    kinds = (["full"] * 22 + ["partial"] * 8 + ["over_limit"] * 10 + ["partial_of_big"] * 4 + ["decline"] * 4
             + ["words"] * 2 + ["half"] * 2)
    items = []
    for i, kind in enumerate(kinds, start=1):
        cid, tid, oid = f"c-{100 + i}", f"t-{1000 + i}", f"o-{5000 + i}"
        customer = g.customer(cid)
        total = g.amount(5, 95) if kind in ("full", "partial", "words", "half") else g.amount(101, 900)
        owner = cid if kind != "decline" else f"c-{900 + i}"
        refund = total
        text = g.rng.choice(["Hi, order {o} arrived broken, I'd like a refund.",
                             "Please refund my order {o}, it never arrived.",
                             "I want my money back for {o}."]).format(o=oid)
        if kind in ("partial", "partial_of_big"):
            refund = g.amount(3, min(total - 1, 90))
            text = f"One item of order {oid} was missing, please refund ${refund:.2f}."
        elif kind == "words":
            refund = float(g.rng.randint(5, int(total) - 1))
            text = f"Order {oid}: the lid was cracked, could you refund {int(refund)} dollars?"
        elif kind == "half":
            refund = round(total / 2, 2)
            text = f"Order {oid} came half empty, please refund half of it."
        tickets = {tid: {"status": "open", "subject": "refund request"}, **g.noise("t")}
        fixture = {"customers": {cid: customer}, "tickets": tickets, "refunds": [], "outbox": []}
        mail = {"to": customer["email"], "subject": _contains("refund"), "body": _ANY}
        if kind == "decline":
            change: dict[str, Any] = {"tickets": {tid: {"status": "closed", "comment": _contains("declined")}},
                                      "outbox": [mail]}
            status = "succeeded"
        elif refund > 100:
            change = {"tickets": {tid: {"status": "pending", "comment": _contains("approval")}}}
            status = "escalated"
        else:
            change = {"refunds": [{"order_id": oid, "amount_usd": refund}],
                      "tickets": {tid: {"status": "solved", "comment": _contains("refunded")}}, "outbox": [mail]}
            status = "succeeded"
        items.append(Item(
            id=f"refund-{i:03d}", workflow="refund_ticket",
            input={"ticket_id": tid, "customer_id": cid, "text": text,
                   "order": {"order_id": oid, "customer_id": owner, "amount_usd": total}},
            fixture=fixture,
            expect=_expect(change, status, 20),
            tags=["golden", "refund_ticket", f"kind:{kind}"]))
    return items


def _exports(g: _Gen) -> list[Item]:
    kinds = ["small"] * 20 + ["large"] * 12 + ["text"] * 10 + ["text_k"] * 3 + ["text_large"] * 7
    items = []
    for i, kind in enumerate(kinds, start=1):
        _, requester = g.person()
        report = g.rng.choice(_REPORTS)
        rows = g.rng.randint(1, 1000) if kind in ("small", "text") else g.rng.randint(1001, 50000)
        if kind == "text_k":
            rows = g.rng.randint(2, 9) * 1000
        data: dict[str, Any] = {"requester": requester}
        if kind in ("small", "large"):
            data.update(report=report, row_count=rows)
        elif kind == "text_k":
            data["text"] = f"Could you export the {report} report? It's about {rows // 1000}k rows."
        else:
            data["text"] = f"Please export the {report} report for me, it has {rows:,} rows."
        exported = min(rows, 1000)
        change = {"exports": [{"report": report, "row_count": exported}],
                  "outbox": [{"to": requester, "subject": _contains(report), "body": _ANY}]}
        items.append(Item(
            id=f"export-{i:03d}", workflow="export_report", input=data,
            fixture={"exports": [], "outbox": []},
            expect=_expect(change, "succeeded", 12),
            tags=["golden", "export_report", f"kind:{kind}"]))
    return items


_ROLE_PHRASES = {"viewer": ["read-only access", "viewer access", "read access to the dashboards"],
                 "editor": ["edit access", "editor rights", "write access"],
                 "admin": ["admin rights", "administrator access"]}


def _grants(g: _Gen) -> list[Item]:
    kinds = ["plain"] * 18 + ["privileged"] * 12 + ["text"] * 12 + ["text_admin"] * 6 + ["text_vague"] * 4
    items = []
    for i, kind in enumerate(kinds, start=1):
        tid = f"t-{3000 + i}"
        _, user = g.person()
        data: dict[str, Any] = {"ticket_id": tid}
        if kind == "plain":
            role = g.rng.choice(["viewer", "editor"])
            data.update(user=user, role=role)
        elif kind == "privileged":
            role = g.rng.choice(["admin", "owner"])
            data.update(user=user, role=role)
        elif kind == "text":
            role = g.rng.choice(["viewer", "editor"])
            data["text"] = f"Please give {user} {g.rng.choice(_ROLE_PHRASES[role])}."
        elif kind == "text_admin":
            role = "admin"
            data["text"] = f"{user} joins the platform team and needs {g.rng.choice(_ROLE_PHRASES['admin'])}."
        else:
            role, phrase = g.rng.choice([("owner", "full control of the workspace"),
                                         ("editor", "contributor access")])
            data["text"] = f"Can {user} get {phrase}?"
        fixture = {"tickets": {tid: {"status": "open", "subject": "access request"}, **g.noise("t")},
                   "grants": []}
        if role in ("admin", "owner"):
            change: dict[str, Any] = {"tickets": {tid: {"status": "pending", "comment": _contains("approval")}}}
            status = "escalated"
        else:
            change = {"grants": [{"user": user, "role": role}],
                      "tickets": {tid: {"status": "closed", "comment": _contains("granted")}}}
            status = "succeeded"
        items.append(Item(
            id=f"access-{i:03d}", workflow="provision_access", input=data, fixture=fixture,
            expect=_expect(change, status, 12),
            tags=["golden", "provision_access", f"kind:{kind}"]))
    return items


_SYMPTOMS = {
    "billing": ["I was charged twice this month.", "My invoice shows the wrong amount.",
                "The payment failed but the money left my account.", "Can I get a copy of my bill?"],
    "technical": ["The app shows an error when I upload a file.", "It crashes every time I open settings.",
                  "Login fails with a 500.", "The export button is broken."],
    "account": ["I need to reset my password.", "Please change my email to my new work one.",
                "How do I update my shipping address?"],
    "general": ["Just wanted to say thanks for the quick help!", "Do you have a public roadmap?"],
    "account_deletion": ["Please delete my account and everything in it.", "I want you to remove my data."],
}
_HARD = [("technical", "The app won't start since the last update."), ("technical", "I can't sign in anymore."),
         ("billing", "Why did you take money from me twice?")]


def _triage(g: _Gen) -> list[Item]:
    plan = ([("billing", None)] * 13 + [("technical", None)] * 13 + [("account", None)] * 10
            + [("general", None)] * 8 + [("account_deletion", None)] * 5 + [(c, t) for c, t in _HARD])
    items = []
    for i, (category, hard) in enumerate(plan, start=1):
        cid, tid = f"c-{2000 + i}", f"t-{6000 + i}"
        customer = g.customer(cid)
        text = hard or g.rng.choice(_SYMPTOMS[category])
        priority = "high" if customer["tier"] == "enterprise" else "normal"
        fixture = {"tickets": {tid: {"status": "new", "subject": text[:40]}, **g.noise("t")},
                   "customers": {cid: customer, **{f"c-{9000 + i}": g.customer(f"c-{9000 + i}")}}}
        change = {"tickets": {tid: {"status": "pending",
                                    "comment": {"$regex": f"category: {category}; priority: {priority}"}}}}
        items.append(Item(
            id=f"triage-{i:03d}", workflow="triage_ticket", input={"ticket_id": tid, "customer_id": cid, "text": text},
            fixture=fixture,
            expect=_expect(change, "succeeded", 12, ("crm.delete_record",)),
            tags=["golden", "triage_ticket", "kind:hard" if hard else f"kind:{category}"]))
    return items


GENERATORS: tuple[Callable[[_Gen], list[Item]], ...] = (_refunds, _exports, _grants, _triage)


def generate(seed: int = SEED) -> list[Item]:
    g = _Gen(seed)
    return [item for make in GENERATORS for item in make(g)]


def write_golden(path: Path = DEFAULT_PATH, seed: int = SEED) -> int:
    items = generate(seed)
    write(path, items)
    return len(items)
