"""webhook.deliver: one signed delivery attempt; the schedule retries it (RetryLater)."""

from __future__ import annotations

from typing import Any

from app.core.jobs import JobKind
from app.services import webhooks
from workers.context import JobContext
from workers.tasks import task


@task(JobKind.webhook_deliver)
async def deliver(ctx: JobContext) -> dict[str, Any]:
    return await webhooks.deliver(ctx.session_factory, ctx.settings, ctx.payload["delivery_id"],
                                  ctx.attempt)
