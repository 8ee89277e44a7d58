"""trace.run: score a dataset for a behaviour and find what taught it."""

from __future__ import annotations

from typing import Any

from app.core.jobs import JobKind
from app.services import traces
from workers.context import JobContext
from workers.tasks import task


@task(JobKind.trace_run)
async def run_trace(ctx: JobContext) -> dict[str, Any]:
    return await traces.run(ctx.session_factory, ctx.settings, ctx.payload["trace_id"], ctx.progress)
