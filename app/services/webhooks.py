"""Webhooks: subscriptions, the outbox (`emit`, in the caller's transaction) and delivery.

A delivery is signed per Standard Webhooks by the `standardwebhooks` package, sent to the
address the egress policy checked (no redirects, short timeouts, capped read), and retried on
`webhook_retry_schedule` by the job runner; the `webhook-id` never changes between tries."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import secrets as token
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core.egress import EgressPolicy
from app.core.jobs import JobKind
from app.db.engine import transaction
from app.db.repositories import jobs as jobs_repo
from app.db.repositories import webhooks as repo
from app.db.tables import Webhook, WebhookDelivery
from app.db.types import utcnow
from app.errors import EgressDenied, NotFound, RetryLater
from app.schemas.events import Event, EventType, TestEventData
from app.services import secrets
from app.services.owners import Principal, visible

log = logging.getLogger("surfturf.webhooks")
READ_CAP = 4096  # bytes of a receiver's answer read; 512 characters kept


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


async def deliver(factory: sessionmaker[Session], settings: Settings, delivery_id: str,
                  attempt: int) -> dict[str, Any]:
    """One try. 2xx: delivered. 410: the subscription is disabled. Otherwise RetryLater on the
    schedule until it is spent (then failed); `webhook_disable_after` deliveries in a row that
    failed for good disable the subscription. Egress is checked again here: a URL that now
    resolves somewhere forbidden is never connected to."""

    def load() -> tuple[str, str, dict[str, Any], str] | str:
        with transaction(factory) as s:
            d = repo.get_delivery(s, delivery_id)
            if d is None:
                return "gone"
            hook = repo.get(s, d.webhook_id)
            if hook is None or not hook.enabled:
                d.status = "abandoned"
                return "abandoned"
            return hook.url, d.event_id, d.payload, secrets.decrypt(settings.secret_key,
                                                                    hook.secret_encrypted)

    loaded = await asyncio.to_thread(load)  # database work stays off the event loop
    if isinstance(loaded, str):
        _count(loaded)
        return {"delivery_id": delivery_id, "status": loaded}
    url, event_id, payload, secret = loaded
    status, response, error, ms = await _post(settings, url, event_id, payload, secret)

    def record() -> tuple[str, float | None]:
        with transaction(factory) as s:
            d = repo.get_delivery(s, delivery_id)
            hook = repo.get(s, d.webhook_id) if d is not None else None
            if d is None or hook is None:
                return "gone", None
            d.attempts += 1
            d.attempt_log = [*d.attempt_log, {"at": utcnow().isoformat(), "status_code": status,
                                              "latency_ms": round(ms, 1), "response": response,
                                              "error": error}]
            if status is not None and 200 <= status < 300:
                d.status, d.delivered_at, d.next_attempt_at = "delivered", utcnow(), None
                hook.consecutive_failures = 0
                return "delivered", None
            d.next_attempt_at = None
            if status == 410:
                _disable(hook, "the receiver answered 410 Gone")
                d.status = "failed"
                return "gone", None
            delays = settings.webhook_retry_delays
            # refused by this process's policy: retried on the schedule, since the operator may
            # yet give the delivering process the policy the subscription was accepted under
            refused = bool(error and error.startswith("egress"))
            if attempt > len(delays):
                d.status = "failed"
                failures = repo.count_failure(s, hook.id)
                if failures >= settings.webhook_disable_after:
                    _disable(hook, f"{failures} consecutive failed deliveries; "
                             f"last: {error or f'HTTP {status}'}")
                return ("egress_denied" if refused else "failed"), None
            delay = delays[attempt - 1] * random.uniform(0.8, 1.2)
            d.status, d.next_attempt_at = "retrying", utcnow() + timedelta(seconds=delay)
            return "retry", delay

    outcome, delay = await asyncio.to_thread(record)
    _count(outcome)
    log.info("webhook delivery", extra={"delivery": delivery_id, "webhook_event": event_id,
                                        "outcome": outcome, "status_code": status, "attempt": attempt})
    if delay is not None:
        raise RetryLater(delay, f"delivery {delivery_id}: {error or f'HTTP {status}'}; retry in "
                         f"{delay:.0f} s")
    return {"delivery_id": delivery_id, "status": outcome, "status_code": status}


def _disable(hook: Webhook, reason: str) -> None:
    hook.enabled, hook.disabled_reason, hook.updated_at = False, reason, utcnow()
    log.warning("webhook disabled", extra={"webhook": hook.id, "reason": reason})


async def _post(settings: Settings, url: str, event_id: str, payload: dict[str, Any], secret: str
                ) -> tuple[int | None, str | None, str | None, float]:
    """(status, truncated answer, error, latency ms); never raises for the receiver's faults."""
    import httpx  # here, not at import: the API starts without the HTTP client
    from standardwebhooks.webhooks import Webhook as Signer

    from app.core.pinned import PinnedTransport

    body = json.dumps(payload, separators=(",", ":"))
    now = datetime.now(UTC)
    headers = {"webhook-id": event_id, "webhook-timestamp": str(int(now.timestamp())),
               "webhook-signature": Signer(secret).sign(event_id, now, body),
               "content-type": "application/json", "user-agent": "surfturf-webhooks/1"}
    transport = PinnedTransport(policy(settings), field="url", ttl=0)
    limit = settings.webhook_timeout_seconds
    timeout = httpx.Timeout(limit, connect=min(5.0, limit))
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False) as c, \
                c.stream("POST", url, content=body, headers=headers) as r:
            raw = b""
            async for chunk in r.aiter_bytes():
                raw += chunk
                if len(raw) >= READ_CAP:
                    break
            text = raw[:READ_CAP].decode("utf-8", errors="replace")[:512] or None
            error = (f"redirect to {r.headers.get('location', '?')[:200]} not followed"
                     if 300 <= r.status_code < 400 else None)
            return r.status_code, text, error, (time.perf_counter() - started) * 1000
    except EgressDenied as exc:
        said = (f"egress: {exc.message} (refused by the delivering process's "
                f"SURFTURF_WEBHOOK_EGRESS={settings.webhook_egress})")
        return None, None, said, (time.perf_counter() - started) * 1000
    except httpx.HTTPError as exc:
        return None, None, f"{type(exc).__name__}: {exc}"[:300], (time.perf_counter() - started) * 1000


def _count(outcome: str) -> None:
    """Imported when a delivery is made: the CLI, which only queues them, never loads Prometheus."""
    from app.metrics import WEBHOOK_DELIVERIES

    WEBHOOK_DELIVERIES.labels(outcome).inc()
