"""dataset.ingest and trace.run."""

from __future__ import annotations

from typing import Any

from app.services import datasets, traces
from workers.context import JobContext
from workers.tasks import task


@task("dataset.ingest")
async def ingest(ctx: JobContext) -> dict[str, Any]:
    return await datasets.ingest(ctx.session_factory, ctx.settings, ctx.payload["dataset_id"], ctx.progress)


@task("trace.run")
async def run_trace(ctx: JobContext) -> dict[str, Any]:
    return await traces.run(ctx.session_factory, ctx.settings, ctx.payload["trace_id"], ctx.progress)
