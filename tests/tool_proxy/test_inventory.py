"""The inventory as code: the reference tools' strict schemas and what `warden tools check` reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from warden.cli.main import app
from warden.core.errors import ConfigError
from warden.policy.bundle import DEFAULT_POLICIES, load_bundle
from warden.tool_proxy.inventory import DEFAULT_INVENTORY, InventoryError, check_inventory, load_inventory
from warden.tool_proxy.processor import input_refusal, output_refusal

INVENTORY = load_inventory()


def refused(action: str, value: Any) -> list[tuple[str, str]]:
    tool, name = action.split(".")
    spec = INVENTORY.action(tool, name)
    assert spec is not None
    refusal = input_refusal(spec, value)
    return [] if refusal is None else [(e.field, e.rule) for e in refusal.errors]


def test_the_default_inventory_is_the_reference_tools_of_the_design() -> None:
    assert INVENTORY.qualified_actions == {"crm.lookup", "payments.refund", "reports.export", "crm.delete_record",
                                           "tickets.update", "email.send", "iam.grant_access"}
    assert INVENTORY.read_only_actions == {"crm.lookup"}
    assert all(t.secret for t in INVENTORY.tools.values())
    assert check_inventory(INVENTORY, load_bundle()) == []


@pytest.mark.parametrize(("action", "value", "expected"), [
    ("payments.refund", {"order_id": "o-1", "amount_usd": -0.01}, [("input.amount_usd", "minimum")]),
    ("payments.refund", {"order_id": "o-1", "amount_usd": "12"}, [("input.amount_usd", "type")]),
    ("payments.refund", {"order_id": "o-1", "amount_usd": True}, [("input.amount_usd", "type")]),
    ("payments.refund", {"order_id": "o-1"}, [("input.amount_usd", "required")]),
    ("payments.refund", {"order_id": "o-1", "amount_usd": 5, "note": "x"}, [("input.note", "additionalProperties")]),
    ("reports.export", {"report": "r", "row_count": 10.5}, [("input.row_count", "type")]),
    ("reports.export", {"report": "r", "row_count": -1}, [("input.row_count", "minimum")]),
    ("email.send", {"to": "bob@", "subject": "s", "body": "b"}, [("input.to", "email")]),
    ("email.send", {"to": "bob example.com", "subject": "s", "body": "b"}, [("input.to", "email")]),
    ("iam.grant_access", {"user": "a@b.co", "role": "root"}, [("input.role", "enum")]),
    ("crm.lookup", [], [("input", "type")]),
])
def test_strict_schemas_name_the_field_and_the_rule(action: str, value: Any, expected: list[tuple[str, str]]) -> None:
    assert refused(action, value) == expected


@pytest.mark.parametrize(("action", "value"), [
    ("payments.refund", {"order_id": "o-1", "amount_usd": 0}),
    ("payments.refund", {"order_id": "o-1", "amount_usd": 250.5, "reason": "damaged"}),
    ("reports.export", {"report": "r", "row_count": 0}),
    ("email.send", {"to": "first.last+tag@mail.example.co.uk", "subject": "s", "body": ""}),
    ("tickets.update", {"ticket_id": "t-1", "status": "solved", "comment": "done"}),
])
def test_valid_inputs_pass(action: str, value: Any) -> None:
    assert refused(action, value) == []


def test_an_output_that_breaks_its_schema_is_refused_with_the_field() -> None:
    spec = INVENTORY.action("payments", "refund")
    assert spec is not None
    refusal = output_refusal(spec, {"refund_id": "r", "status": "done", "amount_usd": 5})
    assert refusal is not None and refusal.status == 502 and refusal.code == "output_invalid"
    assert [(e.field, e.rule) for e in refusal.errors] == [("output.status", "enum")]
    assert output_refusal(spec, {"refund_id": "r", "status": "completed", "amount_usd": 5}) is None


def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def default() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEFAULT_INVENTORY.read_text())
    return data


def test_a_schema_that_does_not_compile_is_refused_naming_where(tmp_path: Path) -> None:
    data = default()
    data["tools"]["payments"]["actions"]["refund"]["input"]["properties"]["amount_usd"]["type"] = "money"
    with pytest.raises(InventoryError, match=r"tools\.payments\.actions\.refund\.input: not a valid JSON Schema"):
        load_inventory(write(tmp_path, data))


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d["tools"]["crm"].update(upstream_url="ftp://x"), "upstream_url: expected an http"),
    (lambda d: d["tools"]["crm"].update(colour="red"), "unknown key colour"),
    (lambda d: d["tools"]["crm"]["actions"]["lookup"].pop("output"), "needs an `output` JSON Schema"),
    (lambda d: d["tools"]["crm"].update(rate_limits={"per_run": {"rate_per_s": 0, "burst": 1}}), "positive"),
])
def test_a_broken_inventory_is_refused_whole(tmp_path: Path, change: Any, message: str) -> None:
    data = default()
    change(data)
    with pytest.raises(ConfigError, match=message):
        load_inventory(write(tmp_path, data))


def bundle_with(tmp_path: Path, workflows: str) -> Path:
    bundle = tmp_path / "policies"
    bundle.mkdir()
    for path in DEFAULT_POLICIES.iterdir():
        if path.is_file():
            (bundle / path.name).write_text(path.read_text())
    (bundle / "tools").mkdir()  # a bundle carries the tool schemas its params are checked against
    (bundle / "tools" / "inventory.yaml").write_text((DEFAULT_POLICIES / "tools" / "inventory.yaml").read_text())
    (bundle / "workflows.toml").write_text(workflows)
    return bundle


def test_check_reports_missing_tools_as_errors_and_the_v1_cap_as_a_warning(tmp_path: Path) -> None:
    data = default()
    for i in range(16):
        data["tools"][f"extra{i}"] = {**data["tools"]["tickets"]}
    inventory = write(tmp_path, data)
    many = ", ".join(f'"extra{i}.update"' for i in range(16))
    policies = bundle_with(tmp_path, f'[workflows.big]\ntools = [{many}]\n'
                                     '[workflows.refund_ticket]\ntools = ["crm.lookup", "payments.void"]\n')
    findings = check_inventory(load_inventory(inventory), load_bundle(policies))
    levels = {(f.level, f.message.split(":")[0][:40]) for f in findings}
    assert any(f.level == "warning" and "big has 16 tool actions; the v1 cap is 15" in f.message for f in findings)
    assert any(f.level == "error" and "refund_ticket uses payments.void" in f.message for f in findings), levels

    result = CliRunner().invoke(app, ["tools", "check", "--inventory", str(inventory), "--policies", str(policies)])
    assert result.exit_code == 1
    assert "payments.void" in result.output and "v1 cap is 15" in result.output


def test_check_warns_about_schemas_that_accept_unknown_fields(tmp_path: Path) -> None:
    data = default()
    del data["tools"]["crm"]["actions"]["lookup"]["input"]["additionalProperties"]
    findings = check_inventory(load_inventory(write(tmp_path, data)), load_bundle())
    assert [f.message for f in findings] == ["crm.lookup.input accepts unknown fields: set additionalProperties: false"]


def test_tools_check_passes_on_the_shipped_inventory() -> None:
    result = CliRunner().invoke(app, ["tools", "check"])
    assert result.exit_code == 0, result.output
    assert "ok: 7 actions" in result.output
