"""dataset.ingest: rows, embeddings, FAISS indexes and prompt clusters of an upload;
dataset.attributes: the auditor's attributes of its rows, clustered and indexed."""

from __future__ import annotations

from typing import Any

from app.core.jobs import JobKind
from app.services import dataset_attributes, datasets
from workers.context import JobContext
from workers.tasks import task


@task(JobKind.dataset_ingest)
async def ingest(ctx: JobContext) -> dict[str, Any]:
    return await datasets.ingest(ctx.session_factory, ctx.settings, ctx.payload["dataset_id"], ctx.progress)


@task(JobKind.dataset_attributes)
async def attributes(ctx: JobContext) -> dict[str, Any]:
    return await dataset_attributes.run(ctx.session_factory, ctx.settings, ctx.payload, ctx.progress)
