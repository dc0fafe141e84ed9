"""Webhook triggers: ``POST /hooks/ID`` starts a run (docs/automation.md, "Webhooks").

Off by default: nothing listens until a person creates a webhook (``cowork webhooks add``,
``webhook/create``), which makes its secret and shows it once. A request is accepted only when,
in this order:

1. its body is at most :data:`MAX_BODY_BYTES` (HTTP 413 otherwise; the server stops reading);
2. it proves it knows the secret (HTTP 401 otherwise): ``hmac`` — an ``X-Hub-Signature-256:
   sha256=HEX`` header holding the HMAC-SHA256 of the body under the secret, GitHub's form
   (https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries); ``header`` —
   the secret itself in ``X-Cowork-Webhook-Secret``. Compared in constant time; never in the URL;
3. the webhook has accepted fewer than its ``rate_per_minute`` in the last minute (HTTP 429 with
   ``Retry-After``);
4. it is not a replay (HTTP 200 ``{"duplicate": true}``, nothing runs): its delivery id
   (``X-GitHub-Delivery``, ``X-Cowork-Delivery`` or ``X-Request-Id``) is remembered and, for an
   ``hmac`` webhook (or a request without a delivery id), so is its body's SHA-256 — a signed
   body sent again under a new delivery id (which nothing signs) is refused too, so a sender
   whose bodies may repeat puts a unique id or time in them, as GitHub's do;
5. its body is JSON (HTTP 400 otherwise) and the prompt template renders with it as ``payload``,
   marked untrusted where it lands (:mod:`.templates`).

Then a run is queued (``reason: "webhook"``, ``trigger`` the webhook's id) and the answer is
HTTP 202 with its id. Secrets live in ``$COWORK_HOME/webhook-secrets.json``, encrypted with the
key store's key (:class:`WebhookSecrets`), never in the database.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from .._util.timezones import local_zone
from ..config import cowork_home
from ..policy.workspaces import check_workspace
from ..protocol import utc_now
from ..protocol.runs import Deliver
from ..protocol.webhooks import WebhookInfo
from ..providers.secrets import SecretStore
from ..store import NotFound, new_id
from ..store import runs as run_records
from ..store import webhooks as records
from ..store.models import WebhookRow
from . import templates
from .runs import Runs, check_run_settings
from .delivery import checked_deliver

MAX_BODY_BYTES = 1024 * 1024
"""Largest request body a webhook reads (bytes)."""

SIGNATURE_HEADER = "x-hub-signature-256"
SECRET_HEADER = "x-cowork-webhook-secret"
DELIVERY_HEADERS = ("x-github-delivery", "x-cowork-delivery", "x-request-id")


class WebhookSecrets(SecretStore):
    """``$COWORK_HOME/webhook-secrets.json``: each webhook's secret, encrypted with the key store's
    ``secret.key`` under its rules (0600 files, atomic replace, a lock around changes)."""

    store_file = "webhook-secrets.json"
    refill = "make new secrets with `cowork webhooks rotate-secret ID`"

    def put(self, webhook_id: str, secret: str) -> None:
        with self._locked():
            keys = self._read()
            keys[webhook_id] = self._fernet(create=True).encrypt(secret.encode()).decode()
            self._write(keys)

    def drop(self, webhook_id: str) -> None:
        with self._locked():
            keys = self._read()
            if keys.pop(webhook_id, None) is not None:
                self._write(keys)


@dataclass(frozen=True)
class Received:
    """The HTTP answer to a webhook request: ``status``, a JSON ``body`` and extra ``headers``."""

    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class Webhooks:
    """The webhooks of one server, over its :class:`Runs`. ``clock``: monotonic seconds (the
    rate limit's)."""

    def __init__(self, runs: Runs, secrets_store: WebhookSecrets | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.runs = runs
        self.store = runs.runtime.store
        self._secrets = secrets_store
        self.clock = clock
        self._recent: dict[str, collections.deque[float]] = {}

    @property
    def secrets(self) -> WebhookSecrets:
        if self._secrets is None:
            self._secrets = WebhookSecrets(cowork_home())
        return self._secrets

    # -- what clients call ----------------------------------------------------------------------

    async def create(self, workspace: Path, prompt: str, *, model: str | None = None, mode: str = "default",
                     approvals: str = "wait", approval_timeout: float = 1800.0, allow: list[str] | None = None,
                     session: str = "new", auth: str = "hmac", rate_per_minute: int = 30,
                     deliver: dict[str, Any] | None = None) -> tuple[WebhookInfo, str]:
        """A new webhook and its secret (shown once). Raises ValueError, UnsafeWorkspace,
        ModelConfigError, SecretStoreError."""
        if not prompt.strip():
            raise ValueError("the prompt is empty")
        templates.check(prompt, webhook=True)
        check_run_settings(mode=mode, approvals=approvals, session=session, allow=allow, model=model,
                           auth=(auth, ("hmac", "header")))
        checked = checked_deliver(deliver)
        workspace = check_workspace(workspace, cowork_home())
        now = utc_now()
        row = WebhookRow(id=new_id("hook"), workspace=str(workspace), prompt=prompt, model=model, mode=mode,
                         approvals=approvals, approval_timeout=approval_timeout, allow=list(dict.fromkeys(allow or ())),
                         session=session, auth=auth, rate_per_minute=rate_per_minute, enabled=True, deliver=checked,
                         created_at=now, updated_at=now)
        secret = secrets.token_urlsafe(32)
        self.secrets.put(row.id, secret)  # before the row: a webhook never exists without its secret
        await records.add_webhook(self.store, row)
        return _info(row), secret

    async def list(self, workspace: str | None = None) -> list[WebhookInfo]:
        return [_info(r) for r in await records.list_webhooks(self.store, workspace)]

    async def delete(self, webhook_id: str) -> None:
        """Raises NotFound."""
        await records.delete_webhook(self.store, webhook_id)
        self.secrets.drop(webhook_id)

    async def rotate(self, webhook_id: str) -> tuple[WebhookInfo, str]:
        """A new secret for the webhook (the old one stops working at once). Raises NotFound."""
        row = await records.get_webhook(self.store, webhook_id)
        secret = secrets.token_urlsafe(32)
        self.secrets.put(row.id, secret)
        await records.update_webhook(self.store, row.id, updated_at=utc_now())
        return _info(await records.get_webhook(self.store, row.id)), secret

    # -- a request ------------------------------------------------------------------------------

    async def receive(self, webhook_id: str, headers: Mapping[str, str], body: bytes) -> Received:
        """Check and act on one ``POST /hooks/ID`` (``headers`` with lower-case names); see the
        module docstring for the order of the checks and the answers."""
        try:
            row = await records.get_webhook(self.store, webhook_id)
        except NotFound:
            row = None
        if row is None or not row.enabled:
            return Received(404, {"error": "no such webhook"})
        if len(body) > MAX_BODY_BYTES:
            return Received(413, {"error": f"the body is larger than {MAX_BODY_BYTES} bytes"})
        secret = self.secrets.get(row.id)
        if secret is None or not _authentic(row.auth, secret, headers, body):
            return Received(401, {"error": "bad or missing signature" if row.auth == "hmac" else "bad or missing secret"})
        wait = self._rate_limited(row)
        if wait is not None:
            return Received(429, {"error": f"more than {row.rate_per_minute} requests a minute"},
                            {"Retry-After": str(wait)})
        try:
            payload = json.loads(body)
        except ValueError:
            return Received(400, {"error": "the body is not JSON"})
        delivery = next((headers[h] for h in DELIVERY_HEADERS if headers.get(h)), None)
        keys = ["id:" + delivery[:190]] if delivery else []
        if row.auth == "hmac" or not delivery:  # a signed body is itself a delivery: sent again, it is a replay
            keys.append(f"sha256:{hashlib.sha256(body).hexdigest()}")
        if not await records.take_delivery(self.store, row.id, keys, utc_now()):
            return Received(200, {"duplicate": True})
        try:
            prompt = await self._prompt(row, payload)
            run = await self.runs.submit_for(row, prompt, "webhook")
        except Exception as exc:  # a template the payload does not fit, a vanished workspace…
            await records.forget_delivery(self.store, row.id, keys)
            return Received(422, {"error": f"no run was started: {exc}"})
        if row.session == "continue" and row.session_id is None:
            await records.update_webhook(self.store, row.id, session_id=run.session_id)
        await records.set_delivery_run(self.store, row.id, keys, run.id)
        return Received(202, {"run_id": run.id, "session_id": run.session_id})

    def _rate_limited(self, row: WebhookRow) -> int | None:
        """Seconds to wait when the webhook accepted ``rate_per_minute`` requests in the last
        minute (this request is then not counted), else None (and it is counted)."""
        now = self.clock()
        recent = self._recent.setdefault(row.id, collections.deque())
        while recent and now - recent[0] >= 60:
            recent.popleft()
        if len(recent) >= row.rate_per_minute:
            return max(1, int(60 - (now - recent[0])) + 1)
        recent.append(now)
        return None

    async def _prompt(self, row: WebhookRow, payload: Any) -> str:
        zone = ZoneInfo(local_zone())
        previous = await run_records.list_runs(self.store, trigger=row.id, limit=1)
        prev = templates.PreviousRun(previous[0].created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"),
                                     previous[0].state) if previous else None
        return templates.render(row.prompt, templates.variables(utc_now(), zone, row.workspace, prev, payload))


def _authentic(auth: str, secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    if auth == "header":
        given = headers.get(SECRET_HEADER, "")
        return bool(given) and hmac.compare_digest(given.encode(), secret.encode())
    given = headers.get(SIGNATURE_HEADER, "")
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return bool(given) and hmac.compare_digest(given.strip().lower().encode(), expected.encode())


def sign(secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value of ``body`` under ``secret`` (for senders and tests)."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _info(row: WebhookRow) -> WebhookInfo:
    return WebhookInfo(id=row.id, path=f"/hooks/{row.id}", workspace=row.workspace, prompt=row.prompt,
                       model=row.model, mode=row.mode, approvals=row.approvals,  # type: ignore[arg-type]
                       approval_timeout=row.approval_timeout, allow=list(row.allow or []),
                       session=row.session, session_id=row.session_id, auth=row.auth,  # type: ignore[arg-type]
                       rate_per_minute=row.rate_per_minute, enabled=row.enabled,
                       deliver=Deliver.model_validate(row.deliver) if row.deliver else None, created_at=row.created_at,
                       updated_at=row.updated_at)


__all__ = ["MAX_BODY_BYTES", "Received", "WebhookSecrets", "Webhooks", "sign"]
