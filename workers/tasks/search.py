"""search.run: the SURF loop over an attribute pool, then its confirmation audit."""

from __future__ import annotations

from typing import Any

from app.core.jobs import JobKind
from app.services import searches
from workers.context import JobContext
from workers.tasks import task


@task(JobKind.search_run)
async def run(ctx: JobContext) -> dict[str, Any]:
    return await searches.execute(ctx.session_factory, ctx.settings, ctx.payload["search_id"],
                                  ctx.progress, guard=ctx.guard, halt=ctx.halt)
