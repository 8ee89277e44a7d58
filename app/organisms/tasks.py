"""organism.sweep: build each point's LoRA organism on this worker, serve it on loopback, audit it
inline; the job's result is sweep.json."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core.jobs import JobKind
from app.core.organisms.sweep import SweepSpec
from app.core.surf.spec import ProbeSpec
from app.db.engine import transaction
from app.db.repositories import jobs as jobs_repo
from app.db.tables import Job
from app.errors import Unavailable
from app.jobs.context import JobContext
from app.jobs.registry import task
from app.services.owners import Principal

log = logging.getLogger("surfturf.organisms")


async def execute(factory: sessionmaker[Session], settings: Settings, job_id: str, payload: dict[str, Any],
                  progress: Any, *, attempt: int, guard: Any, halt: asyncio.Event | None) -> dict[str, Any]:
    """Every point's organism built (or found in DATA_DIR's cache) and audited; a retry resumes
    at the first point without a stored audit."""
    from app.audits import tasks as audit_run
    from app.audits import use_cases as audits
    from app.organisms.lab import run_sweep
    from app.services import targets

    missing = [m for m in ("torch", "transformers", "peft") if importlib.util.find_spec(m) is None]
    if missing:
        raise Unavailable(f"this worker cannot fine-tune organisms: {', '.join(missing)} not installed "
                          "(pip install 'surfturf[local-hf]')")
    sweep = SweepSpec.model_validate(payload["sweep"])
    # the organism is served on this worker's loopback; one job samples it (no chunk jobs elsewhere)
    local = settings.model_copy(update={"target_egress": "loopback", "audit_chunk_size": 0})
    def job_owner() -> str:
        with transaction(factory) as s:
            return (jobs_repo.get(s, job_id) or Job()).owner or ""

    owner = await asyncio.to_thread(job_owner)
    at = {"done": 0, "total": len(sweep.points()), "point": ""}

    async def sweep_progress(done: int, total: int, message: str) -> None:
        at.update(done=done, total=total, point=message)
        await progress(done, total, message)

    async def audit(probe: ProbeSpec, url: str, model: str) -> dict[str, Any]:
        def create_audit() -> str:
            with transaction(factory) as s:
                guard(s)
                target = targets.named(s, local, base_url=url, model=model, api_key_env=None, owner=owner)
                return audits.create(s, local, target_id=target.id, spec=probe.model_dump(mode="json"),
                                     who=Principal(owner), run_by=job_id).id

        audit_id = await asyncio.to_thread(create_audit)

        async def audit_progress(done: int, total: int | None = None, message: str | None = None) -> None:
            await progress(at["done"], at["total"], f"{at['point']}: audit {audit_id} {message or ''}")

        await audit_run.execute(factory, local, audit_id, audit_progress, attempt=attempt, guard=guard,
                                halt=halt)

        def report() -> dict[str, Any]:
            with transaction(factory) as s:
                row = audits.get(s, audit_id)
                if row.report is None:
                    raise RuntimeError(f"audit {audit_id} of organism {model} ended without a report")
                return dict(row.report)

        return await asyncio.to_thread(report)

    doc = await run_sweep(local, sweep, audit, log=log.info, progress=sweep_progress)
    return {**doc, "sweep_id": job_id}


# What a worker runs: each job kind's task, registered with app/jobs/registry.py.

@task(JobKind.organism_sweep)
async def sweep_task(ctx: JobContext) -> dict[str, Any]:
    return await execute(ctx.session_factory, ctx.settings, ctx.job_id, ctx.payload, ctx.progress,
                         attempt=ctx.attempt, guard=ctx.guard, halt=ctx.halt)
