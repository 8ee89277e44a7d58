"""webhook.deliver: one signed delivery attempt; the schedule retries it (RetryLater)."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core.jobs import JobKind
from app.db.engine import transaction
from app.db.repositories import webhooks as repo
from app.db.tables import Webhook
from app.db.types import utcnow
from app.errors import EgressDenied, RetryLater
from app.jobs.context import JobContext
from app.jobs.registry import task
from app.services import secrets
from app.webhooks.use_cases import policy

log = logging.getLogger("surfturf.webhooks")
READ_CAP = 4096  # bytes of a receiver's answer read; 512 characters kept


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


# What a worker runs: each job kind's task, registered with app/jobs/registry.py.

@task(JobKind.webhook_deliver)
async def deliver_task(ctx: JobContext) -> dict[str, Any]:
    return await deliver(ctx.session_factory, ctx.settings, ctx.payload["delivery_id"], ctx.attempt)
