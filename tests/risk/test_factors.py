"""Factors of a risk score: each in [0, 1], each explained, weights from the versioned file."""

from __future__ import annotations

from pathlib import Path

import pytest

from warden.core.errors import ConfigError
from warden.risk.config import DEFAULT_WEIGHTS, FACTORS, load_weights, parse_weights
from warden.risk.factors import RunFacts, Usage, call_factors, combine, explain, external_of, run_factors

W = load_weights()


def factors(action: str, params: dict[str, object], step: int = 3, usage: Usage | None = None,
            facts: RunFacts | None = None) -> dict[str, float]:
    return call_factors(W, action, params, step, usage or Usage(), facts or RunFacts())[0]


def test_the_reference_weights_load_with_a_content_version() -> None:
    assert set(W.weights) == set(FACTORS)
    assert len(W.version) == 16
    assert parse_weights(DEFAULT_WEIGHTS.read_text() + "\n# a comment\n").version != W.version


@pytest.mark.parametrize(("text", "message"), [
    ("[weights]\nsensitivty = 1\n[sensitivity]\ndefault = 0.5", "unknown factor(s) ['sensitivty']"),
    ("[weights]\nsteps = -1\n[sensitivity]\ndefault = 0.5", "non-negative with a positive sum"),
    ("[weights]\nsteps = 1\n[sensitivity]\n\"crm.lookup\" = 2", "[sensitivity] values must be in [0, 1]"),
    ("[weights]\nsteps = 1\n[sensitivity]\n\"crm.lookup\" = 0.2", "needs a default"),
    ("[weights\n", "not valid TOML"),
])
def test_bad_weights_are_a_config_error_naming_the_problem(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_weights(text, "risk.toml")
    assert message in str(err.value) and "risk.toml" in str(err.value)


def test_a_missing_weights_file_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nowhere\.toml"):
        load_weights(tmp_path / "nowhere.toml")


def test_sensitivity_and_magnitude_come_from_the_action_and_its_amount() -> None:
    small = factors("payments.refund", {"order_id": "o", "amount_usd": 10})
    large = factors("payments.refund", {"order_id": "o", "amount_usd": 900})
    assert small["sensitivity"] == large["sensitivity"] == 0.8
    assert small["magnitude"] < 0.1 < 0.9 == large["magnitude"]
    assert factors("reports.export", {"report": "r", "row_count": 1000})["magnitude"] == 0.5
    assert factors("crm.lookup", {"customer_id": "c"})["magnitude"] == 0.0
    assert factors("weird.thing", {})["sensitivity"] == W.sensitivity["default"]
    assert factors("payments.refund", {"amount_usd": "lots"})["magnitude"] == 0.0  # not a number: no amount


def test_side_effects_outside_the_company() -> None:
    assert external_of(W, "payments.refund", {}) == 1.0
    assert external_of(W, "email.send", {"to": "ana@acme.com"}) == 0.0
    assert external_of(W, "email.send", {"to": "ana@acme.com, bo@gmail.com"}) == 1.0
    assert external_of(W, "email.send", {"to": ["Ana@ACME.com"]}) == 0.0
    assert external_of(W, "tickets.update", {"to": "x@evil.com"}) == 0.0


def test_novelty_fades_with_use_and_flags_an_unusual_amount() -> None:
    usage = Usage()
    assert factors("payments.refund", {"amount_usd": 50}, usage=usage)["novelty_tool"] == 1.0
    for amount in (40, 55, 60, 45, 50, 52, 48, 58, 42, 50):
        usage.add(amount)
    usual = factors("payments.refund", {"amount_usd": 51}, usage=usage)
    unusual = factors("payments.refund", {"amount_usd": 5000}, usage=usage)
    assert usual["novelty_tool"] == 0.5  # 10 of familiar_after 20
    assert usual["novelty_amount"] == 0.0
    assert unusual["novelty_amount"] == 1.0
    for _ in range(20):
        usage.add(50)
    assert factors("payments.refund", {"amount_usd": 50}, usage=usage)["novelty_tool"] == 0.0


def test_failures_steps_and_pii_of_the_run() -> None:
    facts = RunFacts(failures=2)
    facts.see_text(W, '{"email": "ana@example.org", "phone": "+1 415 555 0100"}')
    f = factors("crm.lookup", {"customer_id": "c"}, step=25, facts=facts)
    assert f["prior_failures"] == 0.5
    assert f["steps"] == 0.5
    assert f["pii"] == 0.5 and sorted(facts.pii_kinds) == ["email", "phone"]
    facts.see_text(W, '{"card": "4111 1111 1111 1111"}')
    assert facts.pii == 1.0


def test_contributions_add_up_to_the_score_and_name_the_top_factors() -> None:
    f = factors("payments.refund", {"amount_usd": 900}, step=10, facts=RunFacts(failures=1))
    score, contributions = combine(W, f)
    assert 0.0 <= score <= 1.0
    assert abs(sum(contributions.values()) - score) < 1e-5
    assert contributions["sensitivity"] == pytest.approx(W.weights["sensitivity"] * 0.8 / W.total_weight)
    assert explain(contributions).startswith("sensitivity 0.200")
    assert combine(W, dict.fromkeys(FACTORS, 1.0))[0] == 1.0
    assert combine(W, dict.fromkeys(FACTORS, 0.0)) == (0.0, dict.fromkeys(FACTORS, 0.0))


def test_a_run_keeps_the_peaks_of_its_calls() -> None:
    facts = RunFacts(failures=3, peaks={"sensitivity": 0.8, "external": 1.0})
    f = run_factors(W, facts, 60)
    assert f["sensitivity"] == 0.8 and f["external"] == 1.0 and f["magnitude"] == 0.0
    assert f["steps"] == 1.0 and f["prior_failures"] == 0.6
