"""Transaction-scoped credentials: a signed token for one run of one workflow of one tenant.

HS256 JWTs (PyJWT) with the signing key's id in the header. Several keys verify at once and one
signs, so keys rotate without downtime: add the new key everywhere, switch the signing key id,
drop the old key once the longest-lived token it signed has expired (one hour at most).
Time is passed in, never read here, so every refusal is testable without a clock.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import jwt

from warden.core.errors import WardenError

ISSUER = "warden"
AUDIENCE = "warden-tool-proxy"
DEFAULT_TTL_S = 15 * 60
MAX_TTL_S = 60 * 60
_REQUIRED = ["exp", "iat", "jti", "iss", "aud", "tenant", "workflow", "run", "agent", "tools"]


class TokenError(WardenError):
    """A token the proxy refuses (status 401) or a token that cannot be issued as asked."""

    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


@dataclass(frozen=True)
class TokenClaims:
    token_id: str
    key_id: str
    tenant_id: str
    workflow: str
    run_id: str
    agent_id: str
    tools: frozenset[str]  # tool.action names this token may call
    issued_at: int
    expires_at: int


class Keyring:
    """Signing keys by id; ``active`` signs, every key verifies."""

    def __init__(self, keys: dict[str, str], active: str | None = None) -> None:
        self.keys = {kid: secret.encode() for kid, secret in keys.items()}
        active = active or None  # an empty setting means "not set"
        if active is None and len(keys) == 1:
            active = next(iter(keys))
        if active is not None and active not in keys:
            raise TokenError("config", f"signing key id {active!r} is not among the configured keys "
                                       f"{sorted(keys)}", 500)
        for kid, secret in self.keys.items():
            if len(secret) < 32:
                raise TokenError("config", f"signing key {kid!r} is {len(secret)} bytes; use at least 32 "
                                           "random bytes (e.g. `openssl rand -hex 32`)", 500)
        self.active = active

    def issue(self, *, tenant_id: str, workflow: str, run_id: str, agent_id: str, tools: frozenset[str],
              now: float, ttl_s: float = DEFAULT_TTL_S) -> tuple[str, TokenClaims]:
        if self.active is None:
            raise TokenError("config", "no signing key configured (WARDEN_PROXY_SIGNING_KEYS and, with more "
                                       "than one key, WARDEN_PROXY_SIGNING_KEY_ID)", 500)
        if not 0 < ttl_s <= MAX_TTL_S:
            raise TokenError("ttl_too_long" if ttl_s > 0 else "ttl_invalid",
                             f"a token lives more than 0 s and at most {MAX_TTL_S} s (1 hour), default "
                             f"{DEFAULT_TTL_S} s; asked for {ttl_s:g} s", 422)
        for name, value in (("tenant", tenant_id), ("workflow", workflow), ("run", run_id), ("agent", agent_id)):
            if not value:
                raise TokenError("scope_missing", f"a token is scoped to one {name}: it cannot be empty", 422)
        if not tools:
            raise TokenError("scope_missing", f"workflow {workflow!r} has no tool inventory: nothing to scope "
                                              "a token to", 422)
        issued, expires = int(now), int(now + ttl_s)
        claims = TokenClaims(str(uuid.uuid4()), self.active, tenant_id, workflow, run_id, agent_id,
                             frozenset(tools), issued, expires)
        payload = {"iss": ISSUER, "aud": AUDIENCE, "iat": issued, "exp": expires, "jti": claims.token_id,
                   "tenant": tenant_id, "workflow": workflow, "run": run_id, "agent": agent_id,
                   "tools": sorted(tools)}
        token = jwt.encode(payload, self.keys[self.active], algorithm="HS256", headers={"kid": self.active})
        return token, claims

    def verify(self, token: str, now: float) -> TokenClaims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise TokenError("token_malformed", f"not a Warden run token: {exc}") from exc
        if header.get("alg") != "HS256":
            raise TokenError("token_malformed", f"token algorithm {header.get('alg')!r} is not accepted: "
                                                "expected HS256")
        if not isinstance(header.get("kid"), str) or not header["kid"]:
            raise TokenError("token_malformed", f"token header has no key id (kid), got {header.get('kid')!r}: "
                                                "expected the id of one of this proxy's signing keys")
        kid = header["kid"]
        key = self.keys.get(kid)
        if key is None:
            raise TokenError("token_unknown_key", f"token signed with key id {kid!r}, which this proxy does not "
                                                  "hold (retired by rotation, or never issued here)")
        try:
            # Expiry is checked below against the caller's clock, so tests need no wall clock.
            payload: dict[str, Any] = jwt.decode(
                token, key, algorithms=["HS256"], audience=AUDIENCE, issuer=ISSUER,
                options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": _REQUIRED})
        except jwt.InvalidSignatureError as exc:
            raise TokenError("token_tampered", "token signature does not verify: it was altered or forged") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("token_malformed", f"token rejected: {exc}") from exc
        exp, iat = payload["exp"], payload["iat"]
        tools = payload["tools"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (exp, iat)) or not isinstance(tools, list):
            raise TokenError("token_malformed", f"token claims exp and iat must be integers and tools a list; got "
                                                f"exp {type(exp).__name__}, iat {type(iat).__name__}, "
                                                f"tools {type(tools).__name__}")
        if exp - iat > MAX_TTL_S:
            raise TokenError("token_ttl_too_long", f"token lives {exp - iat} s; at most {MAX_TTL_S} s is accepted")
        if now >= exp:
            raise TokenError("token_expired", f"token expired {int(now - exp)} s ago (TTL {exp - iat} s); "
                                              "ask for a new one")
        return TokenClaims(str(payload["jti"]), kid, str(payload["tenant"]), str(payload["workflow"]),
                           str(payload["run"]), str(payload["agent"]), frozenset(map(str, payload["tools"])),
                           iat, exp)
