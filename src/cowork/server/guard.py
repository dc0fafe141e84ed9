"""What every HTTP request and WebSocket handshake must pass before it reaches a route.

:class:`Guard` is an ASGI middleware in front of the whole app:

- **Host** (DNS rebinding): the ``Host`` header must name this server — on a loopback bind
  ``127.0.0.1``, ``localhost`` or ``[::1]`` with the server's port; on a bind to one other address,
  that address — or an entry of :class:`HostPolicy`'s allowed list (``COWORK_ALLOWED_HOSTS``, for a
  reverse proxy). A wildcard bind (``0.0.0.0``, ``::``) accepts any ``Host`` unless a list is
  given: every request there needs a token, which a rebinding page does not have.
- **Origin** (cross-site requests): a request or handshake that carries an ``Origin`` must come from
  the server's own origin (the scheme-less ``host:port`` of its ``Host``) or an allowed host.
  Programs that are not browsers send no ``Origin`` and pass.
- **Body size**: a request body over :data:`MAX_BODY_BYTES` is answered ``413`` as soon as that is
  known — at once from ``Content-Length``, or while counting a chunked body — without reading the
  rest.
- **HEAD** is answered wherever GET is (the GET route runs; uvicorn sends no body for HEAD). Routes
  that stream forever look at :func:`is_head` and answer with headers only.

Refusals are the protocol's error object: ``403`` with ``-32005`` (``FORBIDDEN``) for Host and
Origin, ``413`` with ``-32600`` for a body. A refused WebSocket handshake gets the same HTTP answer.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ..protocol.rpc import ErrorCode, RpcError
from .auth import is_loopback

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MAX_BODY_BYTES = 4 * 1024 * 1024
"""Largest REST request body (the same limit as a JSON-RPC request over WebSocket)."""

ALLOWED_HOSTS_ENV = "COWORK_ALLOWED_HOSTS"
_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]"})
_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})
_HEAD_KEY = "cowork.head"


def _split(netloc: str) -> tuple[str, int | None] | None:
    """``host[:port]`` (IPv6 in brackets) as (lowercase host without a trailing dot, port or
    None); None when it cannot be parsed."""
    try:
        parts = urlsplit("//" + netloc.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if not host or parts.username is not None or parts.path or parts.query or any(c.isspace() for c in host):
        return None
    host = host.rstrip(".")
    return (f"[{host}]" if ":" in host else host), port


@dataclass(frozen=True)
class HostPolicy:
    """Which ``Host`` values name this server. Build with :meth:`for_bind`."""

    names: frozenset[str]
    """Host names accepted with the server's own port (lowercase; IPv6 in brackets)."""
    extra: frozenset[tuple[str, int | None]] = frozenset()
    """The allowed list: (name, port), port None meaning any port."""
    any_host: bool = False

    @classmethod
    def for_bind(cls, host: str, allowed: str | None = None) -> HostPolicy:
        """The policy of a server bound to ``host``. ``allowed``: comma-separated ``name`` (any
        port) or ``name:port`` entries, or ``*`` for any Host (default: ``$COWORK_ALLOWED_HOSTS``).
        Raises ValueError for an entry that is not a host name."""
        if allowed is None:
            allowed = os.environ.get(ALLOWED_HOSTS_ENV, "")
        extra: set[tuple[str, int | None]] = set()
        star = False
        for entry in (e.strip() for e in allowed.split(",")):
            if entry == "*":
                star = True
            elif entry:
                parsed = _split(entry)
                if parsed is None:
                    raise ValueError(f"{ALLOWED_HOSTS_ENV}: {entry!r} is not a host name or host:port")
                extra.add(parsed)
        bound = host.strip().lower()
        names = set(_LOOPBACK_NAMES)
        if bound not in _WILDCARDS and not is_loopback(bound):
            names = {f"[{bound.strip('[]')}]" if ":" in bound else bound}
        wildcard = bound in _WILDCARDS
        return cls(frozenset(names), frozenset(extra), any_host=star or (wildcard and not extra))

    def allows_host(self, host: str | None, port: int | None) -> bool:
        """True when the ``Host`` header ``host`` names this server listening on ``port``."""
        if self.any_host:
            return True
        parsed = _split(host) if host else None
        if parsed is None:
            return False
        name, given = parsed
        if name in self.names and (given or 80) == port:
            return True
        return (name, None) in self.extra or (name, given or 80) in self.extra

    def allows_origin(self, origin: str, host: str | None, port: int | None) -> bool:
        """True when a request with ``Origin: origin`` and ``Host: host`` comes from this server's
        own origin, or from an allowed host."""
        try:
            parts = urlsplit(origin.strip())
            name, given = parts.hostname, parts.port
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not name:
            return False
        default = 443 if parts.scheme == "https" else 80
        name = f"[{name}]" if ":" in name else name.rstrip(".")
        own = _split(host) if host else None
        if own is not None and own[0] == name and (own[1] or 80) == (given or default):
            return True  # same origin: the page was served by this server under the name it used
        return (name, None) in self.extra or (name, given or default) in self.extra


def is_head(scope: Scope) -> bool:
    """True for a HEAD request that the :class:`Guard` passed on as GET."""
    return bool(scope.get(_HEAD_KEY))


class BodyTooLarge(Exception):
    pass


class Guard:
    """The ASGI middleware: Host, Origin, body size and HEAD for ``app`` (see the module doc)."""

    def __init__(self, app: ASGIApp, hosts: HostPolicy, max_body: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.hosts = hosts
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", ())}
        port = (scope.get("server") or (None, None))[1]
        host, origin = headers.get("host"), headers.get("origin")
        if not self.hosts.allows_host(host, port):
            await self._refuse(scope, receive, send, 403, RpcError(
                ErrorCode.FORBIDDEN, f"the Host {host!r} does not name this server (set {ALLOWED_HOSTS_ENV} "
                                     "to serve behind a proxy)"))
            return
        if origin is not None and not self.hosts.allows_origin(origin, host, port):
            await self._refuse(scope, receive, send, 403, RpcError(
                ErrorCode.FORBIDDEN, f"requests from the web origin {origin!r} are refused"))
            return
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "HEAD":
            scope = {**scope, "method": "GET", _HEAD_KEY: True}
        if "content-length" in headers or "transfer-encoding" in headers:
            try:
                receive = await self._buffered(headers, receive)
            except BodyTooLarge:
                await self._refuse(scope, receive, send, 413, RpcError(
                    ErrorCode.INVALID_REQUEST, f"the request body is larger than the limit of {self.max_body:,} bytes"))
                return
        await self.app(scope, receive, send)

    async def _buffered(self, headers: dict[str, str], receive: Receive) -> Receive:
        """Read the body (at most ``max_body`` bytes) and return a ``receive`` that replays it.
        Raises BodyTooLarge as soon as the body is known to be larger."""
        declared = headers.get("content-length", "").strip()
        if declared.isascii() and declared.isdigit() and int(declared) > self.max_body:
            raise BodyTooLarge
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away: let the app see it
                first: Message | None = message
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_body:
                raise BodyTooLarge
            chunks.append(body)
            if not message.get("more_body", False):
                first = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                break
        replay = [first]

        async def replayed() -> Message:
            return replay.pop() if replay else await receive()

        return replayed

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, status: int, error: RpcError) -> None:
        body = json.dumps({"error": error.to_wire()}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]
        if scope["type"] == "websocket":
            await deny_websocket(scope, receive, send, status, body)
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": b"" if is_head(scope) else body})


async def deny_websocket(scope: Scope, receive: Receive, send: Send, status: int, body: bytes) -> None:
    """Refuse a WebSocket handshake with an HTTP answer (``status``, a JSON ``body``) where the
    server supports it (the ASGI ``websocket.http.response`` extension), else a plain 403."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    if "websocket.http.response" in (scope.get("extensions") or {}):
        await send({"type": "websocket.http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "websocket.http.response.body", "body": body})
    else:
        await send({"type": "websocket.close", "code": 1008})


__all__ = ["ALLOWED_HOSTS_ENV", "MAX_BODY_BYTES", "Guard", "HostPolicy", "deny_websocket", "is_head"]
