"""A dataset's attributes (TURF, as published): request the extraction (a job; tasks.py runs it:
the auditor describes the chosen rows in batches, each batch appended to the dataset's attribute log
as it is done (a resumed job asks about no row twice), then the query attributes are clustered
and summarised and the response attributes indexed (app/core/turf/attribute_index.py). Coverage
goes in the dataset's meta (`datasets show`))."""

from __future__ import annotations

import random
from typing import Any, Literal

from pydantic import Field, model_validator
from sqlalchemy.orm import Session

from app.config import Settings
from app.core.jobs import JobKind
from app.core.strict import Strict
from app.datasets import use_cases as datasets_service
from app.db.repositories import jobs as jobs_repo
from app.errors import Conflict, InvalidInput
from app.services.auditor import configured
from app.services.owners import Principal
from app.services.validation import validate


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
