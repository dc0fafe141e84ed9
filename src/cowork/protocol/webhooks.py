"""Webhook triggers as clients see them (docs/automation.md, "Webhooks")."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from .runs import Deliver, RunApprovals
from .sessions import Mode

WebhookAuth = Literal["hmac", "header"]
"""How a request proves it knows the webhook's secret: ``hmac``, an ``X-Hub-Signature-256:
sha256=HEX`` header with the HMAC-SHA256 of the body (GitHub's form); ``header``, the secret itself
in ``X-Cowork-Webhook-Secret``. Never in the URL."""


class WebhookInfo(BaseModel):
    """A webhook: ``POST /hooks/ID`` with a valid signature starts a run."""

    id: str
    path: str = Field(description="Where it listens on the server: /hooks/ID.")
    workspace: str = Field(description="Absolute path of the workspace folder.")
    prompt: str = Field(description="The runs' prompt template; {{payload...}} reads the request's JSON body.")
    model: str | None = None
    mode: Mode
    approvals: RunApprovals
    approval_timeout: float
    allow: list[str]
    session: Literal["new", "continue"]
    session_id: str | None = None
    auth: WebhookAuth
    rate_per_minute: int = Field(description="Accepted requests per minute at most; more get HTTP 429.")
    enabled: bool
    deliver: Deliver | None = Field(default=None, description="Where each run's outcome goes.")
    created_at: AwareDatetime
    updated_at: AwareDatetime
