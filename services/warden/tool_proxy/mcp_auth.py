"""The MCP endpoint's bearer check: the run token is an OAuth bearer token for this resource.

Every request to ``/mcp`` must carry ``Authorization: Bearer <run token>``, checked by the
pipeline's own token check (signature, key, expiry, revocation). A refusal answers as the MCP
authorization spec asks: 401 with ``WWW-Authenticate: Bearer ... resource_metadata="<url>"``
naming the RFC 9728 protected-resource metadata (served by the SDK's route), and the body and
the ProxyCall record the HTTP proxy leaves for a refused token (tool and action ``*``: no MCP
message has been read yet). A hand-written ASGI wrapper rather than the SDK's
RequireAuthMiddleware, whose 401 says only "Authentication required" and records nothing.

An accepted token becomes the SDK's AuthenticatedUser (client id the agent, subject the run),
which is what the SDK binds sessions and sealed request state to. The token itself is never
passed upstream: the upstream call builds its own headers (upstream.py).
"""

from __future__ import annotations

from typing import Any

from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from starlette.authentication import AuthCredentials
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from warden.tool_proxy import pipeline
from warden.tool_proxy.pipeline import Call
from warden.tool_proxy.proxy import ToolProxy
from warden.tool_proxy.tokens import ISSUER, TokenClaims


def access_token(token: str, claims: TokenClaims, resource: str) -> AccessToken:
    return AccessToken(token=token, client_id=claims.agent_id, scopes=sorted(claims.tools),
                       expires_at=claims.expires_at, resource=resource,
                       subject=f"{claims.tenant_id}/{claims.run_id}",
                       claims={"iss": ISSUER, "jti": claims.token_id, "workflow": claims.workflow})


def _quoted(text: str) -> str:
    """A value for a quoted-string auth-param: no quotes, backslashes or control characters."""
    return "".join(c if c.isprintable() and c not in '"\\' else "'" for c in text)[:300]


class BearerGate:
    def __init__(self, app: ASGIApp, proxy: ToolProxy, resource_url: str, metadata_url: str) -> None:
        self.app = AuthContextMiddleware(app)
        self.proxy = proxy
        self.resource_url = resource_url
        self.metadata_url = metadata_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorization = Headers(scope=scope).get("authorization")
        call = Call("*", "*", authorization)
        refusal = await pipeline.check_token(self.proxy, call)
        if refusal is not None:
            reply = pipeline.refused_unscoped(self.proxy, call, refusal)
            headers: dict[str, Any] = {}
            if reply.status == 401:
                # RFC 6750: no error attribute when no token was sent at all; invalid_token otherwise.
                error = "" if refusal.code == "token_missing" else (
                    f'error="invalid_token", error_description="{_quoted(refusal.code + ": " + refusal.reason)}", ')
                headers["WWW-Authenticate"] = f'Bearer {error}resource_metadata="{self.metadata_url}"'
            await JSONResponse(reply.body, reply.status, headers)(scope, receive, send)
            return
        assert call.claims is not None and authorization is not None
        token = authorization.removeprefix("Bearer ").strip()
        scope["user"] = AuthenticatedUser(access_token(token, call.claims, self.resource_url))
        scope["auth"] = AuthCredentials(sorted(call.claims.tools))
        await self.app(scope, receive, send)
