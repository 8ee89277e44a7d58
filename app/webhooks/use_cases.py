"""Webhooks: subscriptions and the outbox (`emit`, in the caller's transaction); tasks.py delivers.

A delivery is signed per Standard Webhooks by the `standardwebhooks` package, sent to the
address the egress policy checked (no redirects, short timeouts, capped read), and retried on
`webhook_retry_schedule` by the job runner; the `webhook-id` never changes between tries."""

from __future__ import annotations

import base64
import secrets as token
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.egress import EgressPolicy
from app.core.jobs import JobKind
from app.db.repositories import jobs as jobs_repo
from app.db.repositories import webhooks as repo
from app.db.tables import Webhook, WebhookDelivery
from app.db.types import utcnow
from app.errors import NotFound
from app.schemas.events import Event, EventType, TestEventData
from app.services import secrets
from app.services.owners import Principal, visible


def policy(settings: Settings) -> EgressPolicy:
    return EgressPolicy.parse(settings.webhook_egress)


def new_secret() -> str:
    """Standard Webhooks' form: whsec_ + base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(token.token_bytes(24)).decode()


def create(session: Session, settings: Settings, data: dict[str, Any], who: Principal
           ) -> tuple[Webhook, str]:
    policy(settings).check_url(data["url"], field="url")
    secret = new_secret()
    row = repo.add(session, owner=who.owner, url=data["url"], events=data["events"],
                   description=data.get("description"), egress_policy=settings.webhook_egress,
                   secret_encrypted=secrets.encrypt(settings.secret_key, secret))
    return row, secret


def get(session: Session, webhook_id: str, who: Principal | None = None) -> Webhook:
    return visible(repo.get(session, webhook_id), who, "webhook", webhook_id)


def list_webhooks(session: Session, who: Principal, *, limit: int, offset: int) -> list[Webhook]:
    return repo.list_webhooks(session, owner=who.scope, limit=limit, offset=offset)


def update(session: Session, settings: Settings, webhook_id: str, patch: dict[str, Any],
           who: Principal) -> Webhook:
    row = get(session, webhook_id, who)
    if patch.get("url") is not None:
        policy(settings).check_url(patch["url"], field="url")
        row.url, row.egress_policy = patch["url"], settings.webhook_egress
    if patch.get("events") is not None:
        row.events = patch["events"]
    if "description" in patch:
        row.description = patch["description"]
    if patch.get("enabled") is not None:
        row.enabled = patch["enabled"]
        if row.enabled:
            row.disabled_reason, row.consecutive_failures = None, 0
    row.updated_at = utcnow()
    return row


def delete(session: Session, webhook_id: str, who: Principal) -> None:
    repo.delete(session, get(session, webhook_id, who))


def rotate_secret(session: Session, settings: Settings, webhook_id: str, who: Principal
                  ) -> tuple[Webhook, str]:
    """Deliveries signed from now on use the new secret (pending retries included)."""
    row = get(session, webhook_id, who)
    secret = new_secret()
    row.secret_encrypted = secrets.encrypt(settings.secret_key, secret)
    row.updated_at = utcnow()
    return row, secret


def _payload(event_type: EventType, data: BaseModel) -> dict[str, Any]:
    event = Event.model_validate({"type": event_type, "timestamp": utcnow(), "data": data})
    return event.model_dump(mode="json")


def _enqueue(session: Session, settings: Settings, hook: Webhook, event_id: str,
             event_type: EventType, payload: dict[str, Any]) -> WebhookDelivery:
    d = repo.add_delivery(session, webhook_id=hook.id, event_id=event_id, event_type=event_type.value,
                          payload=payload, attempt_log=[])
    _schedule(session, settings, d, hook.owner)
    return d


def _schedule(session: Session, settings: Settings, d: WebhookDelivery, owner: str | None) -> None:
    """The delivery's job: ahead of audits (priority), one job attempt per scheduled try."""
    d.job_id = jobs_repo.enqueue(session, JobKind.webhook_deliver, {"delivery_id": d.id}, owner=owner,
                                 max_attempts=len(settings.webhook_retry_delays) + 1, priority=10).id


def emit(session: Session, settings: Settings, owner: str | None, event_type: EventType,
         data: BaseModel) -> int:
    """The outbox: one delivery (and its job) per subscribed webhook, in the caller's
    transaction, so the event commits with what it reports or not at all."""
    hooks = repo.subscribed(session, owner, event_type.value)
    if not hooks:
        return 0
    payload, event_id = _payload(event_type, data), f"msg_{token.token_hex(12)}"
    for hook in hooks:
        _enqueue(session, settings, hook, event_id, event_type, payload)
    return len(hooks)


def send_test(session: Session, settings: Settings, webhook_id: str, who: Principal) -> WebhookDelivery:
    hook = get(session, webhook_id, who)
    data = TestEventData(webhook_id=hook.id, message="a test event from surfturf")
    return _enqueue(session, settings, hook, f"msg_{token.token_hex(12)}", EventType.webhook_test,
                    _payload(EventType.webhook_test, data))


def deliveries(session: Session, webhook_id: str, who: Principal, *, limit: int, offset: int
               ) -> list[WebhookDelivery]:
    get(session, webhook_id, who)
    return repo.list_deliveries(session, webhook_id, limit=limit, offset=offset)


def get_delivery(session: Session, delivery_id: str, who: Principal | None = None) -> WebhookDelivery:
    d = repo.get_delivery(session, delivery_id)
    if d is not None and who is not None:
        get(session, d.webhook_id, who)
    if d is None:
        raise NotFound(f"delivery {delivery_id} not found")
    return d


def redeliver(session: Session, settings: Settings, webhook_id: str | None, delivery_id: str,
              who: Principal) -> WebhookDelivery:
    """The same event (same webhook-id) again, on a fresh retry schedule (`webhook_id` None: the
    delivery's own subscription)."""
    d = repo.get_delivery(session, delivery_id)
    if d is None or webhook_id not in (None, d.webhook_id):
        raise NotFound(f"delivery {delivery_id} not found")
    hook = get(session, d.webhook_id, who)
    d.status, d.next_attempt_at = "pending", None
    _schedule(session, settings, d, hook.owner)
    return d
