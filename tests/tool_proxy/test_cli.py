"""`warden token issue`, `warden run tool-proxy` registration and `warden up --with`."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from tests.tool_proxy.helpers import KEY_NEW, KEY_OLD
from warden.cli.main import app
from warden.cli.stack import _services
from warden.cli.token import seconds
from warden.stack import OPTIONAL_SERVICES, SERVICES
from warden.tool_proxy.tokens import Keyring

KEYS = json.dumps(dict([KEY_OLD, KEY_NEW]))


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WARDEN_PROXY_SIGNING_KEYS", KEYS)
    monkeypatch.setenv("WARDEN_PROXY_SIGNING_KEY_ID", KEY_NEW[0])


def test_token_issue_prints_only_a_token_scoped_to_the_run(keys: None) -> None:
    result = CliRunner().invoke(app, ["token", "issue", "--tenant", "acme", "--workflow", "export_report",
                                      "--run", "run-9", "--ttl", "30m"])
    assert result.exit_code == 0, result.output
    token = result.stdout.strip().splitlines()[-1]
    claims = Keyring(dict([KEY_NEW])).verify(token, time.time())
    assert (claims.tenant_id, claims.workflow, claims.run_id) == ("acme", "export_report", "run-9")
    assert claims.tools == {"reports.export", "email.send"}
    assert claims.expires_at - claims.issued_at == 1800


@pytest.mark.parametrize(("args", "message"), [
    (["--ttl", "61m"], "at most 3600 s"),
    (["--workflow", "unknown_flow"], "not in the policy bundle"),
])
def test_token_issue_refuses_what_it_must(keys: None, args: list[str], message: str) -> None:
    base = {"--tenant": "acme", "--workflow": "refund_ticket", "--run": "r"}
    base.update(dict(zip(args[::2], args[1::2], strict=True)))
    result = CliRunner().invoke(app, ["token", "issue", *[x for kv in base.items() for x in kv]])
    assert result.exit_code == 2
    assert message in result.output


def test_durations() -> None:
    assert [seconds(x) for x in ("900", "900s", "15m", "1h", "0.5h")] == [900, 900, 900, 3600, 1800]


def test_warden_run_knows_every_service_and_up_takes_the_optional_ones() -> None:
    assert set(SERVICES + OPTIONAL_SERVICES) <= set(_services())
    assert "tool-proxy" in OPTIONAL_SERVICES
    result = CliRunner().invoke(app, ["up", "--with", "nope"])
    assert result.exit_code == 2 and "expected one of tool-proxy" in result.output
