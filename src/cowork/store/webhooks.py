"""Webhook records in the store and the deliveries they accepted (see :mod:`cowork.jobs.webhooks`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from .models import WebhookDeliveryRow, WebhookRow
from .repo import NotFound, Store


async def add_webhook(store: Store, row: WebhookRow) -> None:
    async with store._write() as db:
        db.add(row)


async def get_webhook(store: Store, webhook_id: str) -> WebhookRow:
    """Raises :class:`NotFound`."""
    async with store._session() as db:
        row = await db.get(WebhookRow, webhook_id)
    if row is None:
        raise NotFound(f"no webhook {webhook_id!r}")
    return row


async def list_webhooks(store: Store, workspace: str | None = None) -> list[WebhookRow]:
    query = select(WebhookRow).order_by(WebhookRow.created_at, WebhookRow.id)
    if workspace is not None:
        query = query.where(WebhookRow.workspace == workspace)
    async with store._session() as db:
        return list((await db.execute(query)).scalars())


async def update_webhook(store: Store, webhook_id: str, **fields: Any) -> None:
    async with store._write() as db:
        await db.execute(update(WebhookRow).where(WebhookRow.id == webhook_id).values(**fields))


async def delete_webhook(store: Store, webhook_id: str) -> None:
    """Raises :class:`NotFound` (its deliveries go with it)."""
    async with store._write() as db:
        await db.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.webhook_id == webhook_id))
        done = await db.execute(delete(WebhookRow).where(WebhookRow.id == webhook_id))
    if not done.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"no webhook {webhook_id!r}")


async def take_delivery(store: Store, webhook_id: str, keys: Sequence[str], at: datetime) -> bool:
    """Record a delivery under each of ``keys`` in one transaction; False when one of them was
    recorded before (a replay)."""
    try:
        async with store._write() as db:
            for key in keys:
                db.add(WebhookDeliveryRow(webhook_id=webhook_id, key=key, received_at=at))
    except IntegrityError:
        return False
    return True


async def set_delivery_run(store: Store, webhook_id: str, keys: Sequence[str], run_id: str) -> None:
    async with store._write() as db:
        await db.execute(update(WebhookDeliveryRow).where(WebhookDeliveryRow.webhook_id == webhook_id,
                                                          WebhookDeliveryRow.key.in_(list(keys))).values(run_id=run_id))


async def forget_delivery(store: Store, webhook_id: str, keys: Sequence[str]) -> None:
    """Drop a delivery that started nothing (it may be sent again)."""
    async with store._write() as db:
        await db.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.webhook_id == webhook_id,
                                                          WebhookDeliveryRow.key.in_(list(keys))))


__all__ = ["add_webhook", "delete_webhook", "forget_delivery", "get_webhook", "list_webhooks", "set_delivery_run",
           "take_delivery", "update_webhook"]
