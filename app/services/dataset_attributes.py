"""A dataset's attributes (TURF, as published): request the extraction (a job), and run it: the
auditor describes the chosen rows in batches, each batch appended to the dataset's attribute log
as it is done (a resumed job asks about no row twice), then the query attributes are clustered
and summarised and the response attributes indexed (app/core/turf/attribute_index.py). Coverage
goes in the dataset's meta (`datasets show`)."""

from __future__ import annotations

import asyncio
import random
from typing import Any, Literal

from pydantic import Field, model_validator
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core.jobs import JobKind
from app.core.strict import Strict
from app.db.engine import transaction
from app.db.repositories import datasets as repo
from app.db.repositories import jobs as jobs_repo
from app.errors import Conflict, InvalidInput
from app.services import datasets as datasets_service
from app.services.auditor import ProgressFn, auditor_for, close_auditor, configured
from app.services.owners import Principal
from app.services.validation import validate

BATCH = 32  # rows described, then appended to the log, at a time
EMPTY = {"rows": 0, "query_attributes": 0, "response_attributes": 0, "clusters": 0, "summary_calls": 0,
         "summary_failures": 0}


class ExtractionRequest(Strict):
    rows: int | None = Field(default=200, ge=1, le=10_000_000, description="Rows to describe, drawn at "
                             "random (seed 0, so a repeat asks for the same rows); null with all=true.")
    all: bool = Field(default=False, description="Describe every row.")
    per_row: int = Field(default=10, ge=1, le=20, description="Query and response attributes per row.")
    clusters: int | None = Field(default=None, ge=2, le=50_000, description="Query clusters (default: "
                                 "about the square root of half the query attributes, 2-64).")
    max_auditor_calls: int | None = Field(default=None, ge=1, description="No new row is asked about "
                                          "once spent (those in flight finish); what was described is "
                                          "clustered and indexed.")
    concurrency: int = Field(default=8, ge=1, le=256, description="Auditor calls in flight (per Ray "
                             "actor with engine ray).")
    engine: Literal["local", "ray"] = Field(default="local", description="local: the worker's own event "
                                            "loop; ray: a Ray Data pipeline (extra `ray`; RAY_ADDRESS "
                                            "targets a cluster), for millions of rows.")

    @model_validator(mode="after")
    def _which(self) -> ExtractionRequest:
        if self.all:
            self.rows = None
        elif self.rows is None:
            raise ValueError("give rows, or all: true")
        return self


def request(session: Session, settings: Settings, ref: str, data: dict[str, Any], who: Principal, *,
            attach: bool = False) -> Any:
    """Enqueue the extraction job; the dataset's meta says it is running. A job already queued or
    running is a 409, or, with `attach` (the CLI, after its own process was killed), that job: the
    in-process worker takes it over once the dead one's lease runs out. Either way the rows
    already described are kept: the log, not the job, is what resumes."""
    req = validate(ExtractionRequest, data, prefix="body")
    ds = datasets_service.get(session, ref, who)
    if ds.status != "ready":
        raise Conflict(f"dataset {ds.name} is {ds.status}; wait for its ingest job {ds.job_id}")
    if not configured(settings):
        raise InvalidInput("attributes are written by the auditor model: set SURFTURF_AUDITOR_URL and "
                           "SURFTURF_AUDITOR_MODEL", field="body")
    datasets_service.require_embedder()
    running = (ds.meta or {}).get("attributes", {})
    if running.get("status") == "running" and running.get("job_id"):
        job = jobs_repo.get(session, running["job_id"])
        if job is not None and job.status in ("queued", "running"):
            if attach:
                return job
            raise Conflict(f"dataset {ds.name}: an extraction is already running (job {job.id})")
    job = jobs_repo.enqueue(session, JobKind.dataset_attributes, {"dataset_id": ds.id, **req.model_dump()},
                            owner=ds.owner, max_attempts=settings.job_max_attempts)
    ds.meta = {**(ds.meta or {}), "attributes": {**running, "status": "running", "job_id": job.id}}
    return job


def chosen_rows(n: int, req: ExtractionRequest) -> list[int]:
    if req.rows is None or req.rows >= n:
        return list(range(n))
    return sorted(random.Random(0).sample(range(n), req.rows))


async def run(factory: sessionmaker[Session], settings: Settings, payload: dict[str, Any],
              progress: ProgressFn) -> dict[str, Any]:
    from app.core import embedder
    from app.core.turf.attribute_index import AttributeLog, build
    from app.core.turf.extraction import answer_tokens, asker, describe_row
    from app.core.turf.index import cluster_count

    dataset_id = payload["dataset_id"]
    req = ExtractionRequest.model_validate({k: v for k, v in payload.items() if k != "dataset_id"})
    with transaction(factory) as s:
        n = datasets_service.get(s, dataset_id).n_rows
    folder = datasets_service.dataset_dir(settings, dataset_id)
    log = AttributeLog(folder)
    done = await asyncio.to_thread(log.read)
    wanted = chosen_rows(n, req)
    todo = [o for o in wanted if o not in done]
    calls = sum(r.calls for r in done.values())
    auditor = auditor_for(settings, True)
    assert auditor is not None
    sem = asyncio.Semaphore(req.concurrency)

    ask = asker(auditor, answer_tokens(req.per_row))

    async def one(o: int, prompt: str, response: str) -> Any:
        async with sem:
            return await describe_row(ask, o, prompt, response, req.per_row)

    stopped = None
    encode: Any = embedder.encode
    try:
        if req.engine == "ray":
            from app.services import attributes_ray

            encode = attributes_ray.embed
            offset = len(wanted) - len(todo)
            async for part in _ray_slices(settings, dataset_id, todo, req):
                if req.max_auditor_calls is not None and calls >= req.max_auditor_calls:
                    stopped = f"max_auditor_calls {req.max_auditor_calls} spent"
                    break
                await asyncio.to_thread(log.append, part)
                for d in part:
                    done[d.ordinal] = d
                calls += sum(d.calls for d in part)
                offset += len(part)
                await progress(offset, len(wanted), f"described {offset}/{len(wanted)} rows (ray)")
            todo = []
        # a window of rows in flight, not batch by batch: the auditor never waits for a batch's
        # slowest row or for the log's write; what is done is appended BATCH rows at a time
        described = len(wanted) - len(todo)
        pending: set[asyncio.Task[Any]] = set()
        ready: list[Any] = []
        next_row = 0
        while next_row < len(todo) or pending:
            spent = req.max_auditor_calls is not None and calls >= req.max_auditor_calls
            if spent and stopped is None and next_row < len(todo):
                stopped = f"max_auditor_calls {req.max_auditor_calls} spent"
            while not spent and next_row < len(todo) and len(pending) < 4 * max(req.concurrency, BATCH):
                batch = todo[next_row:next_row + BATCH]
                next_row += len(batch)
                with transaction(factory) as s:
                    rows = [(r.ordinal, r.prompt, r.response)
                            for r in repo.rows_by_ordinal(s, dataset_id, batch)]
                pending.update(asyncio.create_task(one(*r)) for r in rows)
            if not pending:
                break
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            ready += [t.result() for t in finished]
            calls += sum(t.result().calls for t in finished)
            if len(ready) >= BATCH or not pending:
                await asyncio.to_thread(log.append, ready)
                for d in ready:
                    done[d.ordinal] = d
                described += len(ready)
                ready = []
                await progress(described, len(wanted), f"described {described}/{len(wanted)} rows")
        await progress(len(wanted), len(wanted), "clustering and indexing the attributes")
        mine = {o: done[o] for o in wanted if o in done}
        n_query = sum(len(r.query) for r in mine.values() if r.ok)
        built = EMPTY
        if n_query:  # a weak auditor may write nothing usable: counted, said, never a crash
            built = await build(mine, encode, ask, req.clusters or cluster_count(n_query), folder,
                                settings.turf_exact_limit)
    finally:
        await close_auditor(settings, auditor)
    coverage = {"status": "ready" if n_query else "empty", "engine": req.engine, "rows_wanted": len(wanted),
                "rows_described": len(mine),
                "rows_failed": sum(not r.ok for r in mine.values()),
                "auditor_calls": calls + built["summary_calls"],
                "per_row": req.per_row, "stopped": stopped, **built}
    with transaction(factory) as s:
        ds = datasets_service.get(s, dataset_id)
        ds.meta = {**(ds.meta or {}), "attributes": coverage}
    return {"dataset_id": dataset_id, **coverage}


def _ray_slices(settings: Settings, dataset_id: str, todo: list[int], req: ExtractionRequest) -> Any:
    """The Ray pipeline's slices, each computed in a thread (Ray's driver calls block)."""
    from app.services import attributes_ray

    it = attributes_ray.describe(settings, dataset_id, todo, req.per_row, req.concurrency)

    class Slices:
        def __aiter__(self) -> Slices:
            return self

        async def __anext__(self) -> list[Any]:
            part = await asyncio.to_thread(next, it, None)
            if part is None:
                raise StopAsyncIteration
            return list(part)

    return Slices()
