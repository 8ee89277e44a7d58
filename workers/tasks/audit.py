"""audit.run: sample the target over the factorial design, then analyse."""

from __future__ import annotations

from typing import Any

from app.services import audits
from workers.context import JobContext
from workers.tasks import task


@task("audit.run")
async def run(ctx: JobContext) -> dict[str, Any]:
    return await audits.execute(ctx.session_factory, ctx.settings, ctx.payload["audit_id"],
                                ctx.progress, attempt=ctx.attempt, guard=ctx.guard, halt=ctx.halt)
