"""Allow/deny lists per tenant and per workflow, and their reload while the proxy runs."""

from __future__ import annotations

from pathlib import Path

from warden.tool_proxy.access import AccessWatcher, load_access


def write(path: Path, text: str) -> None:
    path.write_text(text)


def test_deny_wins_and_an_allow_list_limits_to_itself(tmp_path: Path) -> None:
    path = tmp_path / "access.yaml"
    write(path, "tenants:\n  acme: {deny: [crm.delete_record]}\n  globex: {allow: [crm, tickets.update]}\n"
                "workflows:\n  export_report: {deny: [email]}\n")
    lists = load_access(path)
    assert lists.refusal("acme", "triage_ticket", "crm", "delete_record") == (
        "crm.delete_record is on the deny list of tenant acme (entry 'crm.delete_record')")
    assert lists.refusal("acme", "triage_ticket", "crm", "lookup") is None
    assert lists.refusal("globex", "triage_ticket", "crm", "delete_record") is None  # "crm" allows every action
    assert lists.refusal("globex", "refund_ticket", "payments", "refund") == (
        "payments.refund is not on the allow list of tenant globex")
    assert lists.refusal("initech", "export_report", "email", "send") == (
        "email.send is on the deny list of workflow export_report (entry 'email')")
    assert lists.refusal("initech", "refund_ticket", "email", "send") is None


def test_lists_reload_and_a_broken_change_keeps_the_last_good_lists(tmp_path: Path) -> None:
    path = tmp_path / "access.yaml"
    write(path, "tenants: {}\n")
    watcher = AccessWatcher(path, interval_s=0.0)
    assert watcher.current().refusal("acme", "w", "crm", "lookup") is None
    write(path, "tenants:\n  acme: {deny: ['*']}\n")
    assert watcher.current().refusal("acme", "w", "crm", "lookup") is not None
    write(path, "tenants:\n  acme: {deny: crm}\n")  # not a list
    assert watcher.current().refusal("acme", "w", "crm", "lookup") is not None
    assert watcher.last_error is not None and "expected a list" in watcher.last_error
    path.unlink()
    assert watcher.current().refusal("acme", "w", "crm", "lookup") is None  # no file: no lists
