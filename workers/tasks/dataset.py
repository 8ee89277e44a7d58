"""dataset.ingest: rows, embeddings, FAISS indexes and prompt clusters of an upload."""

from __future__ import annotations

from typing import Any

from app.services import datasets
from workers.context import JobContext
from workers.tasks import task


@task("dataset.ingest")
async def ingest(ctx: JobContext) -> dict[str, Any]:
    return await datasets.ingest(ctx.session_factory, ctx.settings, ctx.payload["dataset_id"], ctx.progress)
