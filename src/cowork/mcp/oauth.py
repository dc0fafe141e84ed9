"""OAuth 2.1 for HTTP MCP servers (Streamable HTTP and HTTP+SSE), through the SDK's OAuth client.

The flow itself is the official SDK's (:class:`mcp.client.auth.OAuthClientProvider`): protected
resource metadata discovery (RFC 9728), authorization server metadata (RFC 8414), dynamic client
registration (RFC 7591), the authorization code grant with PKCE (S256) and ``state``, resource
indicators (RFC 8707) and the ``iss`` check (RFC 9207). cowork adds three things around it:

- **Storage.** One entry per server name in ``$COWORK_HOME/mcp-tokens.json``, the same kind of
  file as the provider key store (:mod:`cowork.providers.secrets`, same ``secret.key``, mode 0600,
  written to a temporary file and renamed): ``{"version": 1, "keys": {NAME: "<Fernet token>"}}``.
  The whole entry (:class:`StoredLogin`: the server's URL, the registered client, the tokens, when
  the access token expires, the discovered metadata) is one encrypted JSON document, so neither a
  token nor a client secret appears in the file in clear.
- **A person's login** (:func:`login`): a one-shot HTTP server on ``127.0.0.1`` (a random port,
  RFC 8252 loopback redirect) receives the authorization response; the authorization URL is
  printed (and opened in a browser); the wait has a timeout. Nothing is stored unless the whole
  flow succeeds, so a failed login leaves the previous one in place.
- **Running sessions** (:func:`auth_for`): a long-lived ``httpx2.Auth`` that never starts an
  interactive flow. Before each request it picks up a newer login from the file (so ``cowork mcp
  login`` in another process reaches a running server; ``logout`` stops it), refreshes the access
  token shortly before it expires (and once on a 401), writes refreshed tokens back, and raises
  :class:`LoginRequired` (a clear "run ``cowork mcp login NAME``") when no token is accepted.

The MCP transports take the provider as their HTTP client's auth:
``httpx2.AsyncClient(auth=auth_for(name, url))`` for ``streamable_http_client(url, http_client=…)``,
``sse_client(url, auth=auth_for(name, url))``.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import socket
import sys
import time
import webbrowser
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
from cryptography.fernet import InvalidToken
from mcp.client.auth import OAuthClientProvider, OAuthFlowError
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthMetadata,
    OAuthToken,
    ProtectedResourceMetadata,
)
from mcp.shared.auth_utils import resource_url_from_server_url
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from pydantic import BaseModel, ValidationError

from ..config import cowork_home
from ..providers.secrets import SecretStore, SecretStoreError

__all__ = [
    "LoginError", "LoginRequired", "LoginResult", "McpAuthError", "McpTokenStore", "StoredLogin",
    "StoredOAuth", "auth_for", "login", "login_status", "logout",
]

TOKENS_FILE = "mcp-tokens.json"
CALLBACK_PATH = "/callback"
LOGIN_TIMEOUT = 300.0
"""Seconds :func:`login` waits for the browser to come back with the authorization response."""
REFRESH_MARGIN = 60.0
"""Seconds before expiry an access token is refreshed (at most a tenth of its lifetime)."""
PROBE_PROTOCOL_VERSION = "2025-06-18"
"""The MCP protocol version :func:`login` names on its probe (the first one with OAuth resource
indicators), so the SDK sends ``resource`` even to a server without protected resource metadata."""


class McpAuthError(Exception):
    """An OAuth problem with one MCP server; ``server`` is its configured name."""

    def __init__(self, server: str, message: str) -> None:
        super().__init__(message)
        self.server = server


class LoginRequired(McpAuthError):
    """The server refused the request (HTTP 401) and no stored token helps: never logged in,
    logged out, the refresh token expired or was revoked, or the login is for another URL. The
    message ends with the command that fixes it."""

    def __init__(self, server: str, why: str) -> None:
        super().__init__(server, f"MCP server {server!r} needs an OAuth login: {why}. "
                                 f"Run `cowork mcp login {server}`")


class LoginError(McpAuthError):
    """:func:`login` did not complete (unreachable server, no OAuth challenge, refused
    authorization, ``state`` or PKCE mismatch, timeout). Nothing was stored."""


class StoredLogin(BaseModel):
    """One server's entry in ``mcp-tokens.json`` (encrypted as a whole).

    ``expires_at``: Unix time (seconds) the access token expires, None when the server gave no
    ``expires_in``. ``authorization_server``: the issuer used; ``oauth_metadata`` and
    ``resource_metadata``: what discovery found (kept so a refresh in a later process goes to the
    right token endpoint with the right ``resource``). ``logged_in_at``: Unix time of the login.
    """

    url: str
    client_info: OAuthClientInformationFull
    tokens: OAuthToken
    expires_at: float | None = None
    authorization_server: str | None = None
    oauth_metadata: OAuthMetadata | None = None
    resource_metadata: ProtectedResourceMetadata | None = None
    logged_in_at: float


@dataclass(frozen=True)
class LoginResult:
    """What :func:`login` stored. Times are Unix seconds; ``scope`` is space-separated."""

    server: str
    url: str
    authorization_server: str | None
    client_id: str
    scope: str | None
    expires_at: float | None
    has_refresh_token: bool
    registered: bool
    """True when a new client was registered (RFC 7591) for this login."""


def _same_url(a: str, b: str) -> bool:
    return resource_url_from_server_url(a).rstrip("/") == resource_url_from_server_url(b).rstrip("/")


def _expiry(tokens: OAuthToken, now: float | None = None) -> float | None:
    return None if tokens.expires_in is None else (now or time.time()) + int(tokens.expires_in)


# -- the store ---------------------------------------------------------------------------------


class McpTokenStore(SecretStore):
    """``$COWORK_HOME/mcp-tokens.json``: :class:`StoredLogin` per server name, each encrypted with
    the provider store's ``secret.key`` (its rules: 0600 files, atomic replace, a lock around
    read-modify-write). Every method raises :class:`~cowork.providers.secrets.SecretStoreError`
    for an unusable file, naming the file and the fix."""

    store_file = TOKENS_FILE
    refill = "log in to each server again with `cowork mcp login NAME`"

    def servers(self) -> list[str]:
        """Names with a stored login (nothing is decrypted)."""
        return sorted(self._read())

    def stamp(self) -> tuple[int, int, int] | None:
        """(inode, mtime ns, size) of the file, None when there is none: changes on every write."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return None
        return st.st_ino, st.st_mtime_ns, st.st_size

    def load(self, server: str) -> StoredLogin | None:
        """The stored login of ``server``, or None."""
        token = self._read().get(server)
        if token is None:
            return None
        try:
            data = self._fernet(create=False).decrypt(token.encode())
            return StoredLogin.model_validate_json(data)
        except InvalidToken:
            raise SecretStoreError(
                f"the login of MCP server {server!r} in {self.path} cannot be decrypted with {self.key_path} "
                "(the key file was replaced, or the file was copied from another machine)",
                f"run `cowork mcp login {server}` again") from None
        except (ValidationError, ValueError) as exc:
            raise SecretStoreError(f"the login of MCP server {server!r} in {self.path} is unreadable ({exc})",
                                   f"run `cowork mcp login {server}` again") from None

    def save(self, server: str, entry: StoredLogin, *, refresh: bool = False) -> bool:
        """Store ``entry`` as the login of ``server`` (replacing any) and return True.

        ``refresh``: ``entry`` carries refreshed tokens of the stored login; it is written only
        while that login is still there (same client), so a refresh finishing after a logout or
        a new login does not bring the old one back. False when it was not written."""
        blob = entry.model_dump_json(exclude_none=True).encode()
        with self._locked():
            keys = self._read()
            if refresh:
                current = self.load(server)
                if current is None or current.client_info.client_id != entry.client_info.client_id:
                    return False
            keys[server] = self._fernet(create=True).encrypt(blob).decode()
            self._write(keys)
            return True

    def remove(self, server: str) -> bool:
        """Forget the login of ``server``; False when there was none."""
        with self._locked():
            keys = self._read()
            if keys.pop(server, None) is None:
                return False
            self._write(keys)
            return True


def _store(home: Path | None) -> McpTokenStore:
    return McpTokenStore(home if home is not None else cowork_home())


# -- the provider running sessions use ---------------------------------------------------------


class _Unused:
    """TokenStorage for the SDK's flow in :class:`StoredOAuth`, which never runs it (see there)."""

    async def get_tokens(self) -> OAuthToken | None:
        return None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        return None

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return None

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        return None


class _StoredTokens:
    """TokenStorage over one server's stored login: refreshed tokens are written to the file."""

    def __init__(self, owner: StoredOAuth) -> None:
        self.owner = owner

    async def get_tokens(self) -> OAuthToken | None:
        return self.owner.login.tokens if self.owner.login else None

    async def set_tokens(self, tokens: OAuthToken) -> None:
        await self.owner.save_tokens(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.owner.login.client_info if self.owner.login else None

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        return None  # a running session never registers


class StoredOAuth(OAuthClientProvider):
    """The ``httpx2.Auth`` of a running session for server ``server`` at ``url`` (see the module
    docstring). Long-lived: make one per server connection and keep it across reconnects.

    Never opens a browser: a 401 that a refresh cannot fix raises :class:`LoginRequired` from
    the request (through the MCP transport, which ends the connection with it). Raises
    :class:`~cowork.providers.secrets.SecretStoreError` when the token file is unusable.
    ``refresh_margin``: seconds before expiry a token counts as due (at most a tenth of its
    lifetime, so a 30-second token is refreshed 3 seconds early).
    """

    def __init__(self, server: str, url: str, store: McpTokenStore, *,
                 refresh_margin: float = REFRESH_MARGIN) -> None:
        metadata = OAuthClientMetadata(redirect_uris=[f"http://127.0.0.1{CALLBACK_PATH}"])  # never used
        super().__init__(server_url=url, client_metadata=metadata, storage=_Unused())
        self.context.storage = _StoredTokens(self)
        self.server, self.url, self.store, self.refresh_margin = server, url, store, refresh_margin
        self.login: StoredLogin | None = None
        self._stamp: object = ()  # never equal to a real stamp: the first request reads the file
        self._missing = "it was never logged in"
        self.refreshes = 0
        """How many refresh grants this provider sent (for status and tests)."""

    # the state, from the file

    def _sync(self, force: bool = False) -> None:
        stamp = self.store.stamp()
        if stamp == self._stamp and not force:
            return
        self._stamp = stamp
        login = self.store.load(self.server) if stamp is not None else None
        if login is not None and not _same_url(login.url, self.url):
            self._missing = f"the stored login is for {login.url}, not {self.url}"
            login = None
        elif login is None:
            self._missing = "there is no stored login (never logged in, or logged out)"
        self.login = login
        ctx = self.context
        ctx.current_tokens = login.tokens if login else None
        ctx.client_info = login.client_info if login else None
        ctx.token_expiry_time = login.expires_at if login else None
        ctx.oauth_metadata = login.oauth_metadata if login else None
        ctx.protected_resource_metadata = login.resource_metadata if login else None
        ctx.auth_server_url = login.authorization_server if login else None

    async def save_tokens(self, tokens: OAuthToken) -> None:
        """Keep refreshed ``tokens`` (in memory and in the file)."""
        if self.login is None:  # pragma: no cover - the SDK refreshes only with a login loaded
            return
        self.login = self.login.model_copy(update={"tokens": tokens, "expires_at": _expiry(tokens)})
        self.context.token_expiry_time = self.login.expires_at
        if await anyio.to_thread.run_sync(lambda: self.store.save(self.server, self.login, refresh=True)):
            self._stamp = self.store.stamp()
        # else logged out or in again meanwhile: the next request reads the file (stamp differs)

    def _due(self) -> bool:
        login = self.login
        if login is None or login.expires_at is None:
            return False
        lifetime = login.tokens.expires_in or 0
        return time.time() >= login.expires_at - min(self.refresh_margin, lifetime / 10)

    def _access(self) -> str | None:
        return self.context.current_tokens.access_token if self.context.current_tokens else None

    async def _refreshed(self, response: httpx2.Response, sent_refresh: str | None) -> bool:
        """Apply a refresh response; on failure adopt a newer login another process stored."""
        self.refreshes += 1
        if await self._handle_refresh_response(response):
            return True
        self._sync(force=True)
        tokens = self.context.current_tokens
        if tokens is not None and tokens.refresh_token != sent_refresh:
            return True
        self.context.clear_tokens()
        self._missing = f"refreshing its token failed (HTTP {response.status_code})"
        return False

    async def _auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        async with self.context.lock:
            self._sync()
            self.context.protocol_version = request.headers.get(MCP_PROTOCOL_VERSION_HEADER)
            if self._due() and self.context.can_refresh_token():
                sent_refresh = self.context.current_tokens.refresh_token  # type: ignore[union-attr]
                response = yield await self._refresh_token()
                await self._refreshed(response, sent_refresh)
            sent = self._access()
            if sent:
                self._add_auth_header(request)
        response = yield request
        if response.status_code != 401:
            return
        async with self.context.lock:
            self._sync()
            if self._access() in (None, sent):  # nobody got a newer token meanwhile
                if not self.context.can_refresh_token():
                    if sent:
                        self._missing = "the server refused the stored token and there is no refresh token"
                    raise LoginRequired(self.server, self._missing)
                sent_refresh = self.context.current_tokens.refresh_token  # type: ignore[union-attr]
                refresh = yield await self._refresh_token()
                if not await self._refreshed(refresh, sent_refresh):
                    raise LoginRequired(self.server, self._missing)
            request.headers.pop("Authorization", None)
            self._add_auth_header(request)
        response = yield request
        if response.status_code == 401:
            raise LoginRequired(self.server, "the server refused a freshly refreshed token (HTTP 401)")


def auth_for(server_name: str, url: str, *, home: Path | None = None,
             always: bool = False) -> StoredOAuth | None:
    """The ``httpx2.Auth`` for MCP server ``server_name`` at ``url``: a :class:`StoredOAuth` over
    its stored login, or None when no login was ever stored under that name (so a server without
    OAuth is contacted as before). ``home``: the cowork home (default ``$COWORK_HOME``).

    ``always``: return a provider even without a stored login. It sends no token until a login
    appears in the file (picked up on the next request, no reconnect needed), and a 401 from a
    server that wants OAuth raises :class:`LoginRequired` ("run `cowork mcp login NAME`")
    instead of the transport's bare "Server returned an error response"; a server without OAuth
    never answers 401 and sees no difference.

    Raises :class:`~cowork.providers.secrets.SecretStoreError` when the token file is unusable.
    """
    store = _store(home)
    if not always and server_name not in store.servers():
        return None
    return StoredOAuth(server_name, url, store)


def login_status(server_name: str, *, home: Path | None = None) -> dict[str, object] | None:
    """What is stored for ``server_name`` without any secret: ``{"url", "authorization_server",
    "client_id", "scope", "expires_at", "has_refresh_token", "logged_in_at"}`` (times in Unix
    seconds), or None. Raises SecretStoreError."""
    login = _store(home).load(server_name)
    if login is None:
        return None
    return {"url": login.url, "authorization_server": login.authorization_server,
            "client_id": login.client_info.client_id, "scope": login.tokens.scope,
            "expires_at": login.expires_at, "has_refresh_token": login.tokens.refresh_token is not None,
            "logged_in_at": login.logged_in_at}


def logout(server_name: str, home: Path | None = None) -> bool:
    """Delete the stored client registration and tokens of ``server_name``; False when none were
    stored. Running sessions stop sending the token on their next request. (The tokens are not
    revoked at the authorization server.) Raises SecretStoreError."""
    return _store(home).remove(server_name)


# -- a person's login --------------------------------------------------------------------------


class _Staged:
    """TokenStorage for :func:`login`: in memory until the flow succeeded."""

    def __init__(self, client_info: OAuthClientInformationFull | None) -> None:
        self.client_info, self.tokens, self.registered = client_info, None, False
        self.tokens_at: float | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens, self.tokens_at = tokens, time.time()

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info, self.registered = client_info, True


def _loopback_socket(preferred: int | None) -> socket.socket:
    """A listening TCP socket on 127.0.0.1: on ``preferred`` when it is free (so the stored
    client's registered redirect URI still matches), else on a random port."""
    for port in ([preferred] if preferred else []) + [0]:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past TIME_WAIT; never a live listener
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            sock.close()
            continue
        sock.listen(8)
        sock.setblocking(False)
        return sock
    raise OSError("cannot listen on 127.0.0.1")  # pragma: no cover - port 0 always binds


_PAGE = ("<!doctype html><html><head><meta charset='utf-8'><title>cowork</title></head>"
         "<body style='font-family:sans-serif'><h1>{title}</h1><p>{text}</p></body></html>")


class _Callback:
    """The one-shot loopback redirect target: the first request to :data:`CALLBACK_PATH` with
    ``code`` or ``error`` is the answer; everything else gets 404."""

    def __init__(self) -> None:
        self.done = anyio.Event()
        self.params: dict[str, str] = {}

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:  # ASGI
        from starlette.requests import Request
        from starlette.responses import HTMLResponse

        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        params = dict(request.query_params)
        if request.url.path != CALLBACK_PATH or not ({"code", "error"} & params.keys()):
            response = HTMLResponse("not found", status_code=404)
        elif self.done.is_set():
            response = HTMLResponse(_PAGE.format(title="Already answered", text="This login was already "
                                                 "completed or refused; you can close this tab."), status_code=409)
        else:
            self.params = params
            self.done.set()
            ok = "code" in params
            response = HTMLResponse(_PAGE.format(
                title="cowork is authorized" if ok else "Authorization refused",
                text="You can close this tab and go back to cowork." if ok else "cowork got: "
                + (params.get("error", "")[:100] + " " + params.get("error_description", "")[:300]).replace("<", "&lt;")))
        await response(scope, receive, send)


@contextlib.asynccontextmanager
async def _serving(app: _Callback, sock: socket.socket) -> AsyncIterator[None]:
    """Serve ``app`` on ``sock`` (uvicorn, in this event loop) for the body's duration. An
    exception of the body comes out as itself, not wrapped in an exception group."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self):  # type: ignore[no-untyped-def]  # leave Ctrl-C to the caller
            yield

    # log_config/log_level None: the process's logging setup is left as it is
    server = Server(uvicorn.Config(app, log_config=None, log_level=None, lifespan="off", access_log=False,
                                   timeout_graceful_shutdown=2))
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            with anyio.fail_after(10):
                while not server.started:
                    await anyio.sleep(0.01)
            try:
                yield
            finally:
                server.should_exit = True
    except BaseExceptionGroup as group:
        if len(group.exceptions) == 1:
            raise group.exceptions[0] from None
        raise


async def _default_show(url: str) -> None:
    print(f"Open this address in a browser to authorize cowork:\n  {url}", file=sys.stderr, flush=True)


async def login(server_name: str, url: str, *, open_browser: bool = True, home: Path | None = None,
                timeout: float = LOGIN_TIMEOUT, scope: str | None = None,
                headers: Mapping[str, str] | None = None,
                on_url: Callable[[str], Awaitable[None] | None] | None = None) -> LoginResult:
    """Log in to the MCP server ``server_name`` at ``url`` (Streamable HTTP or SSE endpoint) and
    store the client registration and tokens (see the module docstring).

    The server is probed with a request that must be refused with 401 (a JSON-RPC ``ping`` POST,
    then a GET when the endpoint takes no POST, as an HTTP+SSE endpoint does); the SDK then discovers
    the authorization server, registers a client (or reuses the stored one when its loopback
    port is free again), and builds the authorization URL, which is given to ``on_url`` (default:
    printed to stderr) and, with ``open_browser``, opened with :mod:`webbrowser`. The person's
    browser comes back to ``http://127.0.0.1:PORT/callback``; ``timeout`` seconds is the wait.
    ``scope``: scopes to ask for (default: what the server's metadata says). ``headers``: extra
    request headers the server needs (the config's ``headers``).

    Raises :class:`LoginError` (nothing stored) for: an unreachable server, a server that does
    not ask for OAuth, an authorization refused or answered with a wrong ``state``, a token
    exchange refused (e.g. a PKCE mismatch), the timeout. SecretStoreError for an unusable store.
    """
    store = _store(home)
    previous = store.load(server_name)
    known = previous.client_info if previous is not None and _same_url(previous.url, url) else None
    old_redirect = str(known.redirect_uris[0]) if known and known.redirect_uris else None
    preferred = httpx2.URL(old_redirect).port if old_redirect else None
    sock = _loopback_socket(preferred)
    redirect_uri = f"http://127.0.0.1:{sock.getsockname()[1]}{CALLBACK_PATH}"
    staged = _Staged(known if old_redirect == redirect_uri else None)
    callback = _Callback()

    async def show(address: str) -> None:
        shown = (on_url or _default_show)(address)
        if inspect.isawaitable(shown):
            await shown
        if open_browser:
            await anyio.to_thread.run_sync(webbrowser.open, address)

    async def wait() -> AuthorizationCodeResult:
        with anyio.move_on_after(timeout):
            await callback.done.wait()
        if not callback.done.is_set():
            raise LoginError(server_name, f"no authorization reached {redirect_uri} within {timeout:g} s "
                                          "(was the address opened in a browser on this machine?)")
        params = callback.params
        if "error" in params:
            detail = params.get("error_description")
            raise LoginError(server_name, f"the authorization server refused: {params['error']}"
                                          + (f" ({detail})" if detail else ""))
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=params.get("iss"))

    metadata = OAuthClientMetadata(
        client_name="cowork", redirect_uris=[redirect_uri], grant_types=["authorization_code", "refresh_token"],
        response_types=["code"], token_endpoint_auth_method="none", scope=scope)
    provider = OAuthClientProvider(server_url=url, client_metadata=metadata, storage=staged,
                                   redirect_handler=show, callback_handler=wait)
    probe_headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json",
                     MCP_PROTOCOL_VERSION_HEADER: PROBE_PROTOCOL_VERSION, **(headers or {})}
    probe = {"jsonrpc": "2.0", "id": "cowork-login", "method": "ping"}
    try:
        async with _serving(callback, sock), httpx2.AsyncClient(auth=provider, timeout=30.0) as client:
            response = await client.post(url, json=probe, headers=probe_headers)
            if response.status_code in (404, 405) and staged.tokens is None:  # an HTTP+SSE endpoint: GET only
                sse_headers = {**probe_headers, "Accept": "text/event-stream"}
                async with client.stream("GET", url, headers=sse_headers) as response:
                    pass
    except McpAuthError:
        raise
    except OAuthFlowError as exc:
        raise LoginError(server_name, f"login to {url} failed: {exc}") from None
    except httpx2.HTTPError as exc:
        raise LoginError(server_name, f"cannot reach {url}: {exc.__class__.__name__}: {exc}") from None
    except ValidationError as exc:
        raise LoginError(server_name, f"{url} or its authorization server sent invalid OAuth metadata: "
                                      f"{exc.errors()[0].get('msg', exc)}") from None
    finally:
        sock.close()
    ctx = provider.context
    if staged.tokens is None or staged.client_info is None:
        raise LoginError(server_name, f"{url} did not ask for an OAuth login (HTTP {response.status_code}, "
                                      "not 401); nothing was stored")
    if response.status_code in (401, 403):
        raise LoginError(server_name, f"{url} refused the new token (HTTP {response.status_code}); nothing was stored")
    entry = StoredLogin(
        url=url, client_info=staged.client_info, tokens=staged.tokens,
        expires_at=_expiry(staged.tokens, staged.tokens_at), authorization_server=ctx.auth_server_url
        or (str(ctx.oauth_metadata.issuer) if ctx.oauth_metadata else None),
        oauth_metadata=ctx.oauth_metadata, resource_metadata=ctx.protected_resource_metadata,
        logged_in_at=time.time())
    await anyio.to_thread.run_sync(store.save, server_name, entry)
    return LoginResult(server=server_name, url=url, authorization_server=entry.authorization_server,
                       client_id=entry.client_info.client_id, scope=entry.tokens.scope,
                       expires_at=entry.expires_at, has_refresh_token=entry.tokens.refresh_token is not None,
                       registered=staged.registered)
