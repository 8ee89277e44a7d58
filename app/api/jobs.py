"""/v1/jobs: status, progress and cancel of any long-running work."""

from __future__ import annotations

from fastapi import APIRouter, Query

from app.api.deps import Reader, SessionDep, Writer
from app.schemas.common import ERROR_RESPONSES, MAX_OFFSET
from app.schemas.jobs import JobList, JobRead, JobStatus
from app.services import jobs as service

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERROR_RESPONSES)


@router.get("")
def jobs_list(
    session: SessionDep,
    who: Reader,
    status: JobStatus | None = None,
    kind: str | None = Query(None, max_length=100),
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> JobList:
    rows = service.list_jobs(session, who, status=status, kind=kind, limit=limit, offset=offset)
    return JobList(items=[JobRead.from_row(r) for r in rows])


@router.get("/{job_id}")
def jobs_get(job_id: str, session: SessionDep, who: Reader) -> JobRead:
    return JobRead.from_row(service.get(session, job_id, who))


@router.post("/{job_id}/cancel")
def jobs_cancel(job_id: str, session: SessionDep, who: Writer) -> JobRead:
    return JobRead.from_row(service.cancel(session, job_id, who))
