"""What the proxy redacts before it produces a call's events: params and outputs by default, each
switchable (WARDEN_REDACT_PARAMS, WARDEN_REDACT_OUTPUTS); the ledger-sink redacts again either way."""

from __future__ import annotations

import json

from warden.tool_proxy import processor as p
from warden.tool_proxy.settings import ToolProxySettings

PARAMS = json.dumps({"to": "jane.doe@example.com", "amount_usd": 12.0})
OUTPUT = json.dumps({"iban": "GB82WEST12345698765432", "ok": True})


def test_both_are_redacted_by_default() -> None:
    settings = ToolProxySettings()
    params, output, counts = p.redacted(PARAMS, OUTPUT, redact_params=settings.redact_params is not False,
                                        redact_outputs=settings.redact_outputs)
    assert json.loads(params) == {"to": "[REDACTED:email]", "amount_usd": 12.0}
    assert json.loads(output or "") == {"iban": "[REDACTED:iban]", "ok": True}
    assert counts == {"email": 1, "iban": 1}


def test_each_can_be_turned_off() -> None:
    params, output, counts = p.redacted(PARAMS, OUTPUT, redact_params=False)
    assert params == PARAMS and "[REDACTED:iban]" in (output or "") and counts == {"iban": 1}
    params, output, counts = p.redacted(PARAMS, OUTPUT, redact_outputs=False)
    assert output == OUTPUT and "[REDACTED:email]" in params and counts == {"email": 1}
