"""organism.sweep: build each point's LoRA organism on this worker, serve it on loopback, audit it."""

from __future__ import annotations

from typing import Any

from app.core.jobs import JobKind
from app.services import organism_sweeps
from workers.context import JobContext
from workers.tasks import task


@task(JobKind.organism_sweep)
async def sweep(ctx: JobContext) -> dict[str, Any]:
    return await organism_sweeps.execute(ctx.session_factory, ctx.settings, ctx.job_id, ctx.payload,
                                         ctx.progress, attempt=ctx.attempt, guard=ctx.guard, halt=ctx.halt)
