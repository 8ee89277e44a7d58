"""Webhook subscriptions and their deliveries (the outbox)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from app.db.tables import Webhook, WebhookDelivery


def add(session: Session, **fields: Any) -> Webhook:
    row = Webhook(**fields)
    session.add(row)
    session.flush()
    return row


def get(session: Session, webhook_id: str) -> Webhook | None:
    return session.get(Webhook, webhook_id)


def list_webhooks(session: Session, *, owner: str | None, limit: int, offset: int) -> list[Webhook]:
    stmt = select(Webhook).order_by(Webhook.created_at).limit(limit).offset(offset)
    if owner is not None:
        stmt = stmt.where(Webhook.owner == owner)
    return list(session.scalars(stmt))


def subscribed(session: Session, owner: str | None, event_type: str) -> list[Webhook]:
    """Enabled subscriptions of this owner to this event (event lists are short: filter here)."""
    stmt = select(Webhook).where(Webhook.owner == owner, Webhook.enabled.is_(True))
    return [w for w in session.scalars(stmt) if event_type in w.events]


def count_failure(session: Session, webhook_id: str) -> int:
    """+1 in SQL, not read-modify-write in Python: deliveries of one webhook fail concurrently."""
    stmt = (update(Webhook).where(Webhook.id == webhook_id)
            .values(consecutive_failures=Webhook.consecutive_failures + 1)
            .returning(Webhook.consecutive_failures).execution_options(synchronize_session=False))
    n = int(session.execute(stmt).scalar_one())
    row = session.get(Webhook, webhook_id)
    if row is not None:
        session.refresh(row, ["consecutive_failures"])
    return n


def delete(session: Session, row: Webhook) -> None:
    session.delete(row)
    session.flush()


def add_delivery(session: Session, **fields: Any) -> WebhookDelivery:
    row = WebhookDelivery(**fields)
    session.add(row)
    session.flush()
    return row


def get_delivery(session: Session, delivery_id: str) -> WebhookDelivery | None:
    return session.get(WebhookDelivery, delivery_id)


def list_deliveries(session: Session, webhook_id: str, *, limit: int, offset: int
                    ) -> list[WebhookDelivery]:
    stmt = (select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id).limit(limit).offset(offset))
    return list(session.scalars(stmt))
