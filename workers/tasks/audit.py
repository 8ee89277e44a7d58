"""audit.run: sample the target over the factorial design (or fan out chunks), then analyse.
audit.chunk: one slice of a big audit's design, taken by whichever worker is free."""

from __future__ import annotations

from typing import Any

from app.core.jobs import JobKind
from app.services import audit_run
from workers.context import JobContext
from workers.tasks import task


@task(JobKind.audit_run)
async def run(ctx: JobContext) -> dict[str, Any]:
    return await audit_run.execute(ctx.session_factory, ctx.settings, ctx.payload["audit_id"],
                                   ctx.progress, attempt=ctx.attempt, guard=ctx.guard, halt=ctx.halt)


@task(JobKind.audit_chunk)
async def chunk(ctx: JobContext) -> dict[str, Any]:
    result = await audit_run.execute_chunk(ctx.session_factory, ctx.settings, ctx.payload["audit_id"],
                                           ctx.payload["chunk"], ctx.progress, job_id=ctx.job_id,
                                           attempt=ctx.attempt,
                                           guard=ctx.guard, halt=ctx.halt)
    return {**result, "worker": ctx.worker_id}
