"""A local OAuth 2.1 authorization server plus a protected MCP server, for tests/mcp/test_oauth*.py.

Run as a subprocess: ``python oauth_server.py``. It listens on three free ports of 127.0.0.1 and
prints one JSON line when all are up: ``{"issuer": "http://127.0.0.1:A", "mcp":
"http://127.0.0.1:B/mcp", "sse": "http://127.0.0.1:C/sse"}``.

- The authorization server (port A) is the SDK's (``mcp.server.auth.routes.create_auth_routes``:
  RFC 8414 metadata, RFC 7591 registration, ``/authorize`` and ``/token`` with PKCE checking,
  ``/revoke``) over an in-memory provider that approves every authorization at once (redirecting
  to the client's redirect URI with ``code`` and ``state``) and rotates refresh tokens.
- The MCP server (port B) is an SDK ``MCPServer`` with a token verifier over the same memory
  (RFC 9728 metadata at ``/.well-known/oauth-protected-resource/mcp``, 401 with
  ``WWW-Authenticate`` without a valid token, tokens bound to the resource). Tool: ``whoami``.
  Port C is the same server over the older HTTP+SSE transport (resource ``/sse``).
- Test controls on port A: ``GET /test/stats`` (counts), ``POST /test/expires_in?seconds=N``
  (lifetime of tokens issued from now on), ``POST /test/drop_access`` (forget every access token,
  as a server restart would; refresh tokens stay valid), ``POST /test/drop_all``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import sys
import time

import uvicorn
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    ProviderTokenVerifier,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.routes import create_auth_routes
from mcp.server.auth.settings import (
    AuthSettings,
    ClientRegistrationOptions,
    RevocationOptions,
)
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

SCOPE = "mcp"


class MemoryProvider:
    """An OAuthAuthorizationServerProvider that keeps everything in dicts and approves at once."""

    def __init__(self) -> None:
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.access_expiry: dict[str, float] = {}
        self.refresh: dict[str, RefreshToken] = {}
        self.expires_in = 3600
        self.stats = {"registrations": 0, "authorizations": 0, "code_exchanges": 0, "refreshes": 0,
                      "refused_refreshes": 0}

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        self.stats["registrations"] += 1
        self.clients[client_info.client_id] = client_info

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        self.stats["authorizations"] += 1
        code = secrets.token_urlsafe(32)
        self.codes[code] = AuthorizationCode(
            code=code, scopes=params.scopes or [SCOPE], expires_at=time.time() + 300, client_id=client.client_id,
            code_challenge=params.code_challenge, redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly, resource=params.resource)
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(self, client: OAuthClientInformationFull, code: str) -> AuthorizationCode | None:
        found = self.codes.get(code)
        return found if found and found.client_id == client.client_id else None

    def _issue(self, client_id: str, scopes: list[str], resource: str | None) -> OAuthToken:
        access, refresh = "at-" + secrets.token_urlsafe(24), "rt-" + secrets.token_urlsafe(24)
        self.access[access] = AccessToken(token=access, client_id=client_id, scopes=scopes,
                                          expires_at=int(time.time() + self.expires_in) + 1, resource=resource)
        self.access_expiry[access] = time.time() + self.expires_in
        self.refresh[refresh] = RefreshToken(token=refresh, client_id=client_id, scopes=scopes, resource=resource)
        return OAuthToken(access_token=access, token_type="Bearer", expires_in=self.expires_in,
                          scope=" ".join(scopes), refresh_token=refresh)

    async def exchange_authorization_code(self, client: OAuthClientInformationFull,
                                          authorization_code: AuthorizationCode) -> OAuthToken:
        self.codes.pop(authorization_code.code, None)
        self.stats["code_exchanges"] += 1
        return self._issue(client.client_id, authorization_code.scopes, authorization_code.resource)

    async def load_refresh_token(self, client: OAuthClientInformationFull, refresh_token: str) -> RefreshToken | None:
        found = self.refresh.get(refresh_token)
        if found is None or found.client_id != client.client_id:
            self.stats["refused_refreshes"] += 1
            return None
        return found

    async def exchange_refresh_token(self, client: OAuthClientInformationFull, refresh_token: RefreshToken,
                                     scopes: list[str]) -> OAuthToken:
        if self.refresh.pop(refresh_token.token, None) is None:
            raise TokenError("invalid_grant", "refresh token already used")
        self.stats["refreshes"] += 1
        return self._issue(client.client_id, scopes or refresh_token.scopes, refresh_token.resource)

    async def load_access_token(self, token: str) -> AccessToken | None:
        found = self.access.get(token)
        if found is None or self.access_expiry.get(token, 0) < time.time():
            return None
        return found

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        self.access.pop(token.token, None)
        self.refresh.pop(token.token, None)

    async def exchange_identity_assertion(self, client, params):
        raise TokenError("unsupported_grant_type")


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def protected_server(provider: MemoryProvider, issuer: str, resource: str) -> MCPServer:
    server = MCPServer("oauth-test", token_verifier=ProviderTokenVerifier(provider), auth=AuthSettings(
        issuer_url=AnyHttpUrl(issuer), resource_server_url=AnyHttpUrl(resource), required_scopes=[SCOPE],
        validate_token_resource=True))

    @server.tool()
    def whoami() -> str:
        """Say that the call got through."""
        return "authorized"

    return server


def build(provider: MemoryProvider, issuer: str, mcp_url: str, sse_url: str) -> list[tuple[Starlette, str]]:
    async def stats(request: Request) -> JSONResponse:
        return JSONResponse({**provider.stats, "live_access_tokens": len(provider.access)})

    async def set_expires_in(request: Request) -> JSONResponse:
        provider.expires_in = int(request.query_params["seconds"])
        return JSONResponse({"expires_in": provider.expires_in})

    async def drop_access(request: Request) -> JSONResponse:
        provider.access.clear()
        return JSONResponse({})

    async def drop_all(request: Request) -> JSONResponse:
        provider.access.clear()
        provider.refresh.clear()
        return JSONResponse({})

    routes = create_auth_routes(
        provider, issuer_url=AnyHttpUrl(issuer),
        client_registration_options=ClientRegistrationOptions(enabled=True, valid_scopes=[SCOPE],
                                                              default_scopes=[SCOPE]),
        revocation_options=RevocationOptions(enabled=True))
    routes += [Route("/test/stats", stats), Route("/test/expires_in", set_expires_in, methods=["POST"]),
               Route("/test/drop_access", drop_access, methods=["POST"]),
               Route("/test/drop_all", drop_all, methods=["POST"])]
    auth_app = Starlette(routes=routes)

    return [(auth_app, "off"), (protected_server(provider, issuer, mcp_url).streamable_http_app(), "on"),
            (protected_server(provider, issuer, sse_url).sse_app(), "off")]


async def main() -> None:
    socks = [free_socket() for _ in range(3)]
    issuer, mcp_base, sse_base = (f"http://127.0.0.1:{s.getsockname()[1]}" for s in socks)
    mcp_url, sse_url = mcp_base + "/mcp", sse_base + "/sse"
    apps = build(MemoryProvider(), issuer, mcp_url, sse_url)
    servers = [uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan=lifespan)) for app, lifespan in apps]
    tasks = [asyncio.create_task(s.serve([sock])) for s, sock in zip(servers, socks)]
    while not all(s.started for s in servers):
        if any(t.done() for t in tasks):
            raise SystemExit("a server did not start")
        await asyncio.sleep(0.02)
    print(json.dumps({"issuer": issuer, "mcp": mcp_url, "sse": sse_url}), flush=True)
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
