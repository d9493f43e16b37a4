"""Scoring on hand-written worlds: the diff's shape, and reasons that name each missing, wrong or extra change."""

from __future__ import annotations

from typing import Any

from warden.evals.diff import equal, score, world_diff

BEFORE: dict[str, Any] = {
    "tickets": {"t-1": {"status": "open", "subject": "refund please"}, "t-2": {"status": "open"}},
    "customers": {"c-1": {"name": "Ada"}, "c-9": {"name": "Bob"}},
    "refunds": [{"order_id": "o-0", "amount_usd": 5}],
    "outbox": [],
}


def after(**changes: Any) -> dict[str, Any]:
    import copy

    world = copy.deepcopy(BEFORE)
    for name, value in changes.items():
        world[name] = value
    return world


def test_the_diff_has_the_world_shape() -> None:
    world = after(tickets={"t-1": {"status": "closed", "subject": "refund please", "comment": "done"},
                           "t-2": {"status": "open"}, "t-3": {"status": "new"}},
                  customers={"c-1": {"name": "Ada"}},
                  refunds=[{"order_id": "o-0", "amount_usd": 5}, {"order_id": "o-1", "amount_usd": 20}],
                  grants=[{"user": "a@b.co", "role": "viewer"}])
    assert world_diff(BEFORE, world) == {
        "tickets": {"t-1": {"status": "closed", "comment": "done"}, "t-3": {"status": "new"}},
        "customers": {"c-9": None},
        "refunds": [{"order_id": "o-1", "amount_usd": 20}],
        "grants": [{"user": "a@b.co", "role": "viewer"}],
    }
    assert world_diff(BEFORE, after()) == {}
    assert world_diff(BEFORE, after(refunds=[])) == {"refunds": {"$replaced": []}}


def test_the_issue_examples_pass() -> None:
    world = after(tickets={"t-1": {"status": "closed", "subject": "refund please"}, "t-2": {"status": "open"}},
                  customers={"c-1": {"name": "Ada"}},
                  refunds=[*BEFORE["refunds"], {"order_id": "o-1", "amount_usd": 20.0}])
    expected = {"refunds": [{"order_id": "o-1", "amount_usd": 20}], "tickets": {"t-1": {"status": "closed"}},
                "customers": {"c-9": None}}
    assert score(expected, world_diff(BEFORE, world)) == []


def test_a_wrong_amount_is_named_by_its_path() -> None:
    world = after(refunds=[*BEFORE["refunds"], {"order_id": "o-1", "amount_usd": 25}])
    reasons = score({"refunds": [{"order_id": "o-1", "amount_usd": 20}]}, world_diff(BEFORE, world))
    assert reasons == ["wrong change refunds[+0].amount_usd: expected 20, got 25"]


def test_missing_changes_are_named() -> None:
    reasons = score({"refunds": [{"order_id": "o-1", "amount_usd": 20}], "tickets": {"t-1": {"status": "closed"}},
                     "customers": {"c-9": None}}, {})
    assert reasons == [
        'missing change refunds: expected an appended item {"order_id": "o-1", "amount_usd": 20}, none appended',
        'missing change tickets.t-1.status: expected "closed", unchanged',
        "missing change customers.c-9: expected deleted, unchanged",
    ]


def test_extra_changes_fail_unless_allowed() -> None:
    world = after(tickets={"t-1": {"status": "closed", "subject": "refund please", "comment": "hi"},
                           "t-2": {"status": "open"}},
                  customers={"c-1": {"name": "Ada"}},
                  outbox=[{"to": "x@y.co", "subject": "s", "body": "b"}])
    expected = {"tickets": {"t-1": {"status": "closed"}}}
    reasons = score(expected, world_diff(BEFORE, world))
    assert reasons == ['extra change tickets.t-1.comment: "hi"', "extra change customers.c-9: deleted",
                       'extra change outbox[+0]: appended {"to": "x@y.co", "subject": "s", "body": "b"}']
    assert score(expected, world_diff(BEFORE, world), allow_extra=True) == []


def test_numbers_compare_within_1e9_relative_and_bools_are_not_numbers() -> None:
    assert equal(20, 20.0 + 1e-8, rel_tol=1e-9)
    assert not equal(20, 20.001, rel_tol=1e-9)
    assert not equal(True, 1, rel_tol=1e-9) and not equal(0, False)
    world = after(refunds=[*BEFORE["refunds"], {"order_id": "o-1", "amount_usd": 0.1 + 0.2}])
    assert score({"refunds": [{"order_id": "o-1", "amount_usd": 0.3}]}, world_diff(BEFORE, world)) == []
    world = after(refunds=[*BEFORE["refunds"], {"order_id": "o-1", "amount_usd": 0.3 + 1e-6}])
    assert score({"refunds": [{"order_id": "o-1", "amount_usd": 0.3}]}, world_diff(BEFORE, world)) != []


def test_list_items_match_in_any_order_and_leftovers_are_extra() -> None:
    appended = [{"user": "b@x.co", "role": "editor"}, {"user": "a@x.co", "role": "viewer"},
                {"user": "c@x.co", "role": "admin"}]
    diff = {"grants": appended}
    assert score({"grants": appended[1::-1]}, diff) == [
        'extra change grants[+2]: appended {"user": "c@x.co", "role": "admin"}']
    assert score({"grants": [{"user": "a@x.co", "role": "owner"}]}, diff, allow_extra=True) == [
        'wrong change grants[+1].role: expected "owner", got "viewer"']


def test_matchers_for_free_text() -> None:
    diff = {"outbox": [{"to": "a@x.co", "subject": "Your refund", "body": "We refunded $20.00 today."}]}
    ok = {"outbox": [{"to": "a@x.co", "subject": {"$contains": "REFUND"}, "body": {"$regex": r"\$20\.00"}}]}
    assert score(ok, diff) == []
    assert score({"outbox": [{"to": "a@x.co", "subject": {"$any": True}, "body": {"$contains": "sorry"}}]},
                 diff) == ['wrong change outbox[+0].body: expected text containing "sorry", got '
                           '"We refunded $20.00 today."']
    assert score({"tickets": {"t-1": {"comment": {"$any": True}}}}, {}) == [
        "missing change tickets.t-1.comment: expected any change, unchanged"]


def test_a_deleted_entry_that_was_expected_changed_is_wrong() -> None:
    assert score({"customers": {"c-9": {"name": "Rob"}}}, {"customers": {"c-9": None}}) == [
        'wrong change customers.c-9: expected {"name": "Rob"}, got deleted']
    assert score({"refunds": [{"order_id": "o"}]}, {"refunds": {"$replaced": []}}) == [
        'wrong change refunds: expected [{"order_id": "o"}], got rewritten (not appended) to []']
