"""/v1/jobs: status, progress and cancel of any long-running work."""

from __future__ import annotations

from fastapi import APIRouter, Query

from app.api.deps import ReadKey, SessionDep, WriteKey
from app.db.repositories import jobs as repo
from app.schemas.common import ERROR_RESPONSES
from app.schemas.jobs import JobList, JobRead
from app.services import jobs as service

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=ERROR_RESPONSES)


@router.get("", dependencies=[ReadKey])
def list_jobs(
    session: SessionDep,
    status: str | None = None,
    kind: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> JobList:
    rows = repo.list_jobs(session, status=status, kind=kind, limit=limit, offset=offset)
    return JobList(items=[JobRead.from_row(r) for r in rows])


@router.get("/{job_id}", dependencies=[ReadKey])
def get_job(job_id: str, session: SessionDep) -> JobRead:
    return JobRead.from_row(service.get(session, job_id))


@router.post("/{job_id}/cancel", dependencies=[WriteKey])
def cancel_job(job_id: str, session: SessionDep) -> JobRead:
    return JobRead.from_row(service.cancel(session, job_id))
