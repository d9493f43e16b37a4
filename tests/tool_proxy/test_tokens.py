"""Run tokens: every refusal the proxy makes on a token, and key rotation with two valid keys."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from tests.tool_proxy.helpers import KEY_NEW, KEY_OLD
from warden.tool_proxy.tokens import DEFAULT_TTL_S, MAX_TTL_S, Keyring, TokenError

TOOLS = frozenset({"crm.lookup", "payments.refund"})
NOW = 1_800_000_000.0


def issue(ring: Keyring, ttl_s: float = DEFAULT_TTL_S, now: float = NOW) -> str:
    token, _ = ring.issue(tenant_id="acme", workflow="refund_ticket", run_id="run-1", agent_id="a-1", tools=TOOLS,
                          now=now, ttl_s=ttl_s)
    return token


def refusal(ring: Keyring, token: str, now: float = NOW + 1) -> TokenError:
    with pytest.raises(TokenError) as caught:
        ring.verify(token, now)
    return caught.value


def test_a_token_carries_one_run_tenant_workflow_and_its_tools() -> None:
    ring = Keyring(dict([KEY_NEW]))
    claims = ring.verify(issue(ring), NOW + 1)
    assert (claims.tenant_id, claims.workflow, claims.run_id, claims.agent_id) == ("acme", "refund_ticket", "run-1",
                                                                                   "a-1")
    assert claims.tools == TOOLS
    assert claims.expires_at - claims.issued_at == 15 * 60
    assert claims.key_id == KEY_NEW[0]


def test_a_ttl_over_one_hour_is_refused_at_issue() -> None:
    ring = Keyring(dict([KEY_NEW]))
    issue(ring, ttl_s=MAX_TTL_S)
    with pytest.raises(TokenError) as caught:
        issue(ring, ttl_s=MAX_TTL_S + 1)
    assert caught.value.code == "ttl_too_long" and caught.value.status == 422
    assert "at most 3600 s" in str(caught.value)


def test_expired() -> None:
    ring = Keyring(dict([KEY_NEW]))
    token = issue(ring, ttl_s=60)
    ring.verify(token, NOW + 59)
    error = refusal(ring, token, NOW + 60)
    assert (error.code, error.status) == ("token_expired", 401)


def _segments(token: str) -> list[str]:
    return token.split(".")


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tampered_claims_or_signature_are_refused() -> None:
    ring = Keyring(dict([KEY_NEW]))
    header, payload, signature = _segments(issue(ring))
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["tools"] = [*claims["tools"], "crm.delete_record"]  # widen the scope
    assert refusal(ring, f"{header}.{_b64(claims)}.{signature}").code == "token_tampered"
    flipped = signature[:-2] + ("AA" if signature[-2:] != "AA" else "BB")
    assert refusal(ring, f"{header}.{payload}.{flipped}").code == "token_tampered"
    assert refusal(ring, "not-a-token").code == "token_malformed"


def test_a_token_forged_with_another_key_or_no_algorithm_is_refused() -> None:
    ring = Keyring(dict([KEY_NEW]))
    forged = jwt.encode({"x": 1}, "attacker-key-0123456789abcdef0123456789", algorithm="HS256",
                        headers={"kid": KEY_NEW[0]})
    assert refusal(ring, forged).code == "token_tampered"
    _, payload, _ = _segments(issue(ring))
    unsigned = f"{_b64({'alg': 'none', 'kid': KEY_NEW[0]})}.{payload}."
    assert refusal(ring, unsigned).code == "token_malformed"


def test_a_key_holder_cannot_mint_a_token_living_longer_than_an_hour() -> None:
    ring = Keyring(dict([KEY_NEW]))
    payload = {"iss": "warden", "aud": "warden-tool-proxy", "iat": int(NOW), "exp": int(NOW) + 7200, "jti": "j",
               "tenant": "acme", "workflow": "w", "run": "r", "agent": "a", "tools": ["crm.lookup"]}
    token = jwt.encode(payload, KEY_NEW[1], algorithm="HS256", headers={"kid": KEY_NEW[0]})
    assert refusal(ring, token).code == "token_ttl_too_long"


def test_keys_rotate_without_downtime() -> None:
    """Old key signs; then both verify while the new one signs; then the old one is dropped."""
    before = Keyring(dict([KEY_OLD]))
    during = Keyring(dict([KEY_OLD, KEY_NEW]), active=KEY_NEW[0])
    after = Keyring(dict([KEY_NEW]))
    old_token, new_token = issue(before), issue(during)
    assert during.verify(old_token, NOW + 1).key_id == KEY_OLD[0]
    assert during.verify(new_token, NOW + 1).key_id == KEY_NEW[0]
    assert after.verify(new_token, NOW + 1).key_id == KEY_NEW[0]
    error = refusal(after, old_token)
    assert (error.code, error.status) == ("token_unknown_key", 401)


def test_two_keys_need_an_explicit_signing_key_and_keys_must_be_long() -> None:
    with pytest.raises(TokenError, match="no signing key"):
        issue(Keyring(dict([KEY_OLD, KEY_NEW])))
    with pytest.raises(TokenError, match="at least 32"):
        Keyring({"short": "abc"})
    with pytest.raises(TokenError, match="not among the configured keys"):
        Keyring(dict([KEY_OLD]), active="nope")


def test_only_hs256_with_a_key_id_is_accepted_and_the_refusal_says_so() -> None:
    ring = Keyring(dict([KEY_NEW]))
    _, payload, signature = _segments(issue(ring))
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    hs384 = jwt.encode(claims, KEY_NEW[1], algorithm="HS384", headers={"kid": KEY_NEW[0]})
    rs256 = f"{_b64({'alg': 'RS256', 'typ': 'JWT', 'kid': KEY_NEW[0]})}.{payload}.{signature}"
    for token, alg in ((hs384, "HS384"), (rs256, "RS256")):
        error = refusal(ring, token)
        assert (error.code, error.status) == ("token_malformed", 401)
        assert f"algorithm '{alg}' is not accepted: expected HS256" in str(error)
    no_kid = jwt.encode(claims, KEY_NEW[1], algorithm="HS256")
    error = refusal(ring, no_kid)
    assert error.code == "token_malformed" and "no key id (kid)" in str(error)


def test_claims_of_the_wrong_type_are_named_with_their_types() -> None:
    ring = Keyring(dict([KEY_NEW]))
    payload = {"iss": "warden", "aud": "warden-tool-proxy", "iat": str(int(NOW)), "exp": int(NOW) + 60, "jti": "j",
               "tenant": "acme", "workflow": "w", "run": "r", "agent": "a", "tools": "crm.lookup"}
    token = jwt.encode(payload, KEY_NEW[1], algorithm="HS256", headers={"kid": KEY_NEW[0]})
    error = refusal(ring, token)
    assert error.code == "token_malformed"
    assert "got exp int, iat str, tools str" in str(error)


def test_a_zero_ttl_is_refused_not_taken_for_the_default() -> None:
    with pytest.raises(TokenError) as caught:
        issue(Keyring(dict([KEY_NEW])), ttl_s=0)
    assert (caught.value.code, caught.value.status) == ("ttl_invalid", 422)
