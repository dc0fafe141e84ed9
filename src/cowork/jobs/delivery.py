"""Delivery of a run's outcome: a signed outgoing webhook or an email, when the run ends or waits
for a person (docs/automation.md, "Delivery").

Each delivery is a row keyed on (run, channel, event), inserted before anything is sent, so a
run's outcome goes to a channel once per event — also when the server restarts or a second one
watches. A pending delivery is claimed (its next attempt pushed out by :data:`CLAIM_S`, a
compare-and-set) before it is tried, failures are retried with exponential backoff
(:data:`RETRY_BASE_S` · 2^(attempt−1), at most :data:`MAX_ATTEMPTS` tries), and the outcome —
sent, failed with the last error, or skipped ("only if not empty") — is recorded and shown with
the run. What no system can promise: if the server dies after a receiver accepted the message and
before the row says so, that one message is sent again on restart; the webhook's
``X-Cowork-Delivery`` id is stable so receivers can drop the repeat.

- **Webhook**: ``POST url`` with ``{"event": "ended" | "waiting", "run": {...}}`` (the run as
  ``run/get`` gives it), ``X-Cowork-Event``, ``X-Cowork-Delivery: RUN:CHANNEL:EVENT`` and, when
  ``$COWORK_DELIVERY_SECRET`` is set, ``X-Cowork-Signature-256: sha256=HMAC-SHA256(secret, body)``.
  A 2xx answer is success; anything else, or no answer in 10 s, is retried.
- **Email**: over SMTP with ``aiosmtplib`` to ``$COWORK_SMTP_HOST`` (``_PORT`` default 587,
  ``_USER``, ``_PASSWORD``, ``_FROM``, ``_TLS``: ``starttls`` (default), ``tls`` or ``off``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from pydantic import ValidationError
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..protocol import RunInfo, utc_now
from ..protocol.runs import Deliver, DeliveryStatus, EmailChannel, WebhookChannel
from ..store import Store
from ..store.models import DeliveryRow

log = logging.getLogger(__name__)

RETRY_BASE_S = 2.0
MAX_ATTEMPTS = 6
CLAIM_S = 120.0
"""How long a server holds a delivery it is trying (longer than one attempt can take)."""
WEBHOOK_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    user: str | None = None
    password: str | None = None
    sender: str = "cowork@localhost"
    tls: str = "starttls"

    @classmethod
    def from_env(cls) -> SmtpSettings | None:
        """From ``$COWORK_SMTP_*``; None without ``COWORK_SMTP_HOST``. Raises ValueError."""
        host = os.environ.get("COWORK_SMTP_HOST", "").strip()
        if not host:
            return None
        port = os.environ.get("COWORK_SMTP_PORT", "587").strip()
        tls = os.environ.get("COWORK_SMTP_TLS", "starttls").strip()
        if not port.isdigit() or tls not in ("starttls", "tls", "off"):
            raise ValueError("COWORK_SMTP_PORT must be a port number and COWORK_SMTP_TLS starttls, tls or off")
        return cls(host, int(port), os.environ.get("COWORK_SMTP_USER") or None,
                   os.environ.get("COWORK_SMTP_PASSWORD") or None,
                   os.environ.get("COWORK_SMTP_FROM") or "cowork@localhost", tls)


def checked_deliver(deliver: Any) -> dict[str, Any] | None:
    """``deliver`` (a :class:`Deliver` or its JSON) checked, as JSON for the store. Raises ValueError."""
    if deliver is None:
        return None
    try:
        return Deliver.model_validate(deliver).model_dump(mode="json")
    except ValidationError as exc:
        raise ValueError(f"bad deliver: {exc.errors()[0]['msg']}") from None


class Deliveries:
    """The deliveries of one server. ``get_run(id)``: the run as clients see it;
    ``on_change(id)``, when set, is awaited after a delivery of that run was recorded or tried."""

    def __init__(self, store: Store, get_run: Callable[[str], Awaitable[RunInfo]], *,
                 smtp: SmtpSettings | None = None, secret: str | None = None, retry_base: float = RETRY_BASE_S,
                 max_attempts: int = MAX_ATTEMPTS, clock: Callable[[], datetime] = utc_now) -> None:
        self.store = store
        self.get_run = get_run
        self._smtp_problem: str | None = None
        if smtp is None:
            try:
                smtp = SmtpSettings.from_env()
            except ValueError as exc:  # said when a mail is due, not at every start of the server
                self._smtp_problem = str(exc)
        self.smtp = smtp
        self.secret = secret if secret is not None else (os.environ.get("COWORK_DELIVERY_SECRET") or None)
        self.retry_base = retry_base
        self.max_attempts = max_attempts
        self.clock = clock
        self.on_change: Callable[[str], Awaitable[None]] | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._loop is None:
            self._loop = asyncio.create_task(self._run(), name="cowork deliveries")

    async def _changed(self, run_id: str) -> None:
        if self.on_change is not None:
            await self.on_change(run_id)

    async def close(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
            self._loop = None

    async def enqueue(self, run: RunInfo, event: str) -> None:
        """Record the deliveries ``run``'s ``deliver`` asks for at ``event`` (ended | waiting);
        those recorded before are left as they are."""
        deliver = run.deliver
        if deliver is None or (event == "waiting" and not deliver.on_waiting):
            return
        empty = event == "ended" and deliver.only_if_not_empty and run.state == "completed" \
            and not (run.result or "").strip()
        now = self.clock()
        for n, channel in enumerate(deliver.channels):
            row = DeliveryRow(run_id=run.id, channel=n, event=event, kind=channel.type,
                              state="skipped" if empty else "pending", attempts=0,
                              error="skipped: the run's answer is empty (only if not empty)" if empty else None,
                              next_attempt_at=None if empty else now, created_at=now)
            with contextlib.suppress(IntegrityError):
                async with self.store._write() as db:
                    db.add(row)
        await self._changed(run.id)
        self._wake.set()

    async def statuses(self, run_ids: list[str]) -> dict[str, list[DeliveryStatus]]:
        if not run_ids:
            return {}
        async with self.store._session() as db:
            rows = (await db.execute(select(DeliveryRow).where(DeliveryRow.run_id.in_(run_ids))
                                     .order_by(DeliveryRow.created_at, DeliveryRow.channel))).scalars()
            out: dict[str, list[DeliveryStatus]] = {}
            for r in rows:
                out.setdefault(r.run_id, []).append(DeliveryStatus(
                    channel=r.channel, kind=r.kind, event=r.event, state=r.state,  # type: ignore[arg-type]
                    attempts=r.attempts, error=r.error, sent_at=r.sent_at))
        return out

    # -- sending ------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            delay = 5.0
            try:
                delay = await self.round()
            except Exception:  # a locked or vanished database: try again later
                log.exception("delivering run results failed")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def round(self) -> float:
        """Try every pending delivery that is due; returns seconds until the next one is (≤ 5)."""
        now = self.clock()
        async with self.store._session() as db:
            due = list((await db.execute(select(DeliveryRow).where(
                DeliveryRow.state == "pending", DeliveryRow.next_attempt_at <= now))).scalars())
        for row in due:
            if await self._claim(row, now):
                await self._attempt(row)
        async with self.store._session() as db:
            later = (await db.execute(select(DeliveryRow.next_attempt_at).where(DeliveryRow.state == "pending")
                                      .order_by(DeliveryRow.next_attempt_at).limit(1))).scalar_one_or_none()
        return 5.0 if later is None else max(0.05, min(5.0, (later - self.clock()).total_seconds()))

    async def _claim(self, row: DeliveryRow, now: datetime) -> bool:
        async with self.store._write() as db:
            done = await db.execute(update(DeliveryRow).where(
                DeliveryRow.run_id == row.run_id, DeliveryRow.channel == row.channel, DeliveryRow.event == row.event,
                DeliveryRow.state == "pending", DeliveryRow.next_attempt_at == row.next_attempt_at)
                .values(next_attempt_at=now + timedelta(seconds=CLAIM_S)))
        return bool(done.rowcount)  # type: ignore[attr-defined]

    async def _attempt(self, row: DeliveryRow) -> None:
        attempts = row.attempts + 1
        try:
            run = await self.get_run(row.run_id)
            assert run.deliver is not None
            channel = run.deliver.channels[row.channel]
            if isinstance(channel, WebhookChannel):
                await self._post(channel, run, row)
            else:
                await self._mail(channel, run, row.event)
        except Exception as exc:  # noqa: BLE001 - every failure is recorded and retried
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            final = attempts >= self.max_attempts
            retry = self.clock() + timedelta(seconds=self.retry_base * 2 ** (attempts - 1))
            await self._set(row, attempts=attempts, error=error, state="failed" if final else "pending",
                            next_attempt_at=None if final else retry)
            return
        await self._set(row, attempts=attempts, error=None, state="sent", sent_at=self.clock(), next_attempt_at=None)

    async def _set(self, row: DeliveryRow, **fields: object) -> None:
        async with self.store._write() as db:
            await db.execute(update(DeliveryRow).where(DeliveryRow.run_id == row.run_id,
                                                       DeliveryRow.channel == row.channel,
                                                       DeliveryRow.event == row.event).values(**fields))
        await self._changed(row.run_id)

    async def _post(self, channel: WebhookChannel, run: RunInfo, row: DeliveryRow) -> None:
        body = json.dumps({"event": row.event, "run": run.model_dump(mode="json", exclude={"deliveries"})}).encode()
        headers = {"Content-Type": "application/json", "X-Cowork-Event": row.event,
                   "X-Cowork-Delivery": f"{run.id}:{row.channel}:{row.event}", "User-Agent": "cowork"}
        if self.secret:
            headers["X-Cowork-Signature-256"] = "sha256=" + hmac.new(self.secret.encode(), body,
                                                                    hashlib.sha256).hexdigest()
        async with httpx.AsyncClient(timeout=WEBHOOK_TIMEOUT_S, follow_redirects=False) as http:
            answer = await http.post(channel.url, content=body, headers=headers)
        if not 200 <= answer.status_code < 300:
            raise RuntimeError(f"{channel.url} answered HTTP {answer.status_code}")

    async def _mail(self, channel: EmailChannel, run: RunInfo, event: str) -> None:
        import aiosmtplib

        if self.smtp is None:
            raise RuntimeError(self._smtp_problem or "no SMTP server is configured (COWORK_SMTP_HOST)")
        first = " ".join(run.prompt.split())[:60]
        message = EmailMessage()
        message["From"] = self.smtp.sender
        message["To"] = ", ".join(channel.to)
        what = "waits for you" if event == "waiting" else run.state
        message["Subject"] = f"cowork run {what}: {first}"
        lines = [f"Run {run.id} {what}.", f"Workspace: {run.workspace}", f"Session: {run.session_id}",
                 f"Why it ran: {run.reason}" + (f" ({run.trigger})" if run.trigger else ""), "", "Prompt:", run.prompt]
        if event == "waiting":
            lines += ["", f"It waits for {run.pending_approvals} approval(s): answer in the web UI or with "
                          f"`cowork runs follow {run.id}`."]
        if run.error:
            lines += ["", f"Error: {run.error}"]
        if run.warnings:
            lines += ["", *[f"Warning: {w}" for w in run.warnings]]
        if run.result:
            lines += ["", "Answer:", run.result]
        message.set_content("\n".join(lines) + "\n")
        await aiosmtplib.send(message, hostname=self.smtp.host, port=self.smtp.port, username=self.smtp.user,
                              password=self.smtp.password, use_tls=self.smtp.tls == "tls",
                              start_tls=True if self.smtp.tls == "starttls" else False, timeout=30)


__all__ = ["Deliver", "Deliveries", "SmtpSettings", "checked_deliver"]
