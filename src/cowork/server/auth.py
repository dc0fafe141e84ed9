"""Who may call the server, and what a read-only caller is shown.

- Bound to a loopback address (127.0.0.1, ::1, localhost), the server needs no token: only
  programs on this machine can reach it. A read-only token, if sent, still makes the caller
  read-only. Web pages are kept out by :mod:`.guard` (a ``Host`` that does not name the server, an
  ``Origin`` that is not the server's own: a page cannot turn the local server into its proxy).
- Bound to any other address, every request needs a token: ``Authorization: Bearer TOKEN`` on
  HTTP and on the WebSocket handshake, or ``authToken`` in ``initialize``.

Two tokens exist, generated on first need with :func:`secrets.token_urlsafe` (256 bits), printed
once and stored with mode 0600 in ``$COWORK_HOME/server-token`` and
``$COWORK_HOME/server-token-read-only``. A read-only token may list and subscribe; it may not start
turns, answer approvals or change anything, and what it is shown has workspace paths and the
person's words (messages, titles, the reason given when denying) replaced by ``[redacted]``.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..config import cowork_home

REDACTED = "[redacted]"
FULL_TOKEN_FILE = "server-token"
READ_ONLY_TOKEN_FILE = "server-token-read-only"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP addresses (127.0.0.0/8, ::1)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


CLIENT_LABEL_MAX = 100
"""Longest ``Caller.client`` label kept (characters)."""


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: ``read_only`` limits it to reads and redacted views; ``client``
    names the program it uses (``NAME VERSION`` from ``initialize``'s ``clientInfo``, a REST
    client's ``X-Cowork-Client`` header, else ``rest``), journaled as an approval's ``answered_by``."""

    read_only: bool = False
    client: str | None = None

    def named(self, name: str | None, version: str | None = None) -> Caller:
        """This caller with ``client`` set from a name and version a client gave: non-printable
        characters dropped, cut to :data:`CLIENT_LABEL_MAX`; unchanged when nothing printable is left."""
        label = " ".join(p for p in (name, version) if p)
        label = "".join(c for c in label if c.isprintable()).strip()[:CLIENT_LABEL_MAX]
        return replace(self, client=label) if label else self


class AuthError(Exception):
    """A missing or wrong token."""


def _read_or_create(path: Path) -> tuple[str, bool]:
    """The token in ``path``; created (0600) when missing. Returns (token, created)."""
    try:
        return path.read_text().strip(), False
    except FileNotFoundError:
        token = secrets.token_urlsafe(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token + "\n")
        return token, True


@dataclass
class Auth:
    """The server's token policy. Build with :meth:`for_bind`."""

    require_token: bool
    full_token: str | None = None
    read_only_token: str | None = None

    @classmethod
    def for_bind(cls, host: str, home: Path | None = None) -> tuple[Auth, list[str]]:
        """Tokens for a server bound to ``host``. Returns the policy and the lines to print once
        (the tokens that were just generated). Loopback binds read existing tokens only."""
        home = home or cowork_home()
        full_path, ro_path = home / FULL_TOKEN_FILE, home / READ_ONLY_TOKEN_FILE
        if is_loopback(host):  # no token needed; the stored ones, if sent, keep their meaning
            full = full_path.read_text().strip() if full_path.exists() else None
            ro = ro_path.read_text().strip() if ro_path.exists() else None
            return cls(require_token=False, full_token=full or None, read_only_token=ro or None), []
        full, full_new = _read_or_create(full_path)
        ro, ro_new = _read_or_create(ro_path)
        lines = []
        if full_new:
            lines.append(f"token (full access, shown once; stored in {full_path}): {full}")
        if ro_new:
            lines.append(f"read-only token (shown once; stored in {ro_path}): {ro}")
        return cls(require_token=True, full_token=full, read_only_token=ro), lines

    def caller(self, token: str | None) -> Caller:
        """The caller a token stands for. Raises :class:`AuthError`."""
        if token and not token.isascii():  # tokens are ASCII; compare_digest refuses anything else
            raise AuthError("the token is not valid for this server")
        if token:
            if self.read_only_token and hmac.compare_digest(token, self.read_only_token):
                return Caller(read_only=True)
            if self.full_token and hmac.compare_digest(token, self.full_token):
                return Caller()
            raise AuthError("the token is not valid for this server")
        if self.require_token:
            raise AuthError("this server needs a token: send 'Authorization: Bearer TOKEN' or authToken in initialize")
        return Caller()


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer TOKEN`` header (RFC 6750), else None."""
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def redact(obj: BaseModel | dict[str, Any], workspaces: set[str]) -> dict[str, Any]:
    """A JSON-ready copy of a session, event or result without workspace paths and the person's
    words: ``text`` of ``turn.started`` and of ``user_message`` items, session titles (they are
    taken from the first message), a run's ``prompt``, the ``reason`` of ``approval.resolved`` and the ``output`` and
    ``summary`` of a denied ``tool_call`` item (both carry the reason a person gave when denying), and every
    occurrence of a workspace path."""
    data = obj.model_dump(mode="json") if isinstance(obj, BaseModel) else obj
    text = json.dumps(data, ensure_ascii=False)
    for path in sorted(workspaces, key=len, reverse=True):
        if path and path != "/":
            # As the path appears inside the JSON text: escaped the same way (ensure_ascii=False).
            text = text.replace(json.dumps(path, ensure_ascii=False)[1:-1], REDACTED)
    return _blank(json.loads(text))


def _blank(value: Any) -> Any:
    if isinstance(value, dict):
        out = {k: _blank(v) for k, v in value.items()}
        kind = out.get("type")
        if kind in ("turn.started", "user_message") and "text" in out:
            out["text"] = REDACTED
        if kind == "approval.resolved" and out.get("reason") is not None:
            out["reason"] = REDACTED
        if kind == "tool_call" and out.get("status") == "denied":
            for key in ("output", "summary"):
                if out.get(key) is not None:
                    out[key] = REDACTED
        if "workspace" in out and isinstance(out["workspace"], str):
            out["workspace"] = REDACTED
        if "title" in out and isinstance(out.get("title"), str) and "last_seq" in out:  # a session
            out["title"] = REDACTED
        if "prompt" in out and "approvals" in out and isinstance(out["prompt"], str):  # a run: the person's words
            out["prompt"] = REDACTED
        if "path" in out and "sessionCount" in out:  # a workspace entry
            out["path"] = REDACTED
        return out
    if isinstance(value, list):
        return [_blank(v) for v in value]
    return value
