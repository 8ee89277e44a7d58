"""Job use cases for the API: read, list, cancel, and the job behind another resource."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.db.repositories import jobs as repo
from app.db.tables import Job
from app.errors import Conflict
from app.services.owners import Principal, visible

STATUSES = repo.STATUSES


def get(session: Session, job_id: str, who: Principal | None = None) -> Job:
    return visible(repo.get(session, job_id), who, "job", job_id)


def job_of(session: Session, row: Any) -> Job | None:
    """The job behind an audit, dataset, trace or search: its status and progress go in their
    reads. A list page loads them with its rows (one query); a single read loads it here."""
    return row.job if row.job_id else None


def finished_artifact(session: Session, row: Any, artifact: dict[str, Any] | None, what: str,
                      noun: str, poll: str) -> dict[str, Any]:
    """A report or result, or a 409 that says whether its job ended without one or is still going."""
    if artifact is not None:
        return artifact
    job = job_of(session, row)
    if job is not None and job.status in repo.RESUMABLE:
        raise Conflict(f"{what} {job.status} without a {noun}: {job.error or 'no error'}")
    raise Conflict(f"{what} has no {noun} yet; poll GET {poll}")


def counts_by_status(session: Session) -> dict[str, int]:
    return repo.counts_by_status(session)


def list_jobs(session: Session, who: Principal, *, status: str | None, kind: str | None, limit: int,
              offset: int) -> list[Job]:
    return repo.list_jobs(session, owner=who.scope, status=status, kind=kind, limit=limit,
                          offset=offset)


def cancel(session: Session, job_id: str, who: Principal | None = None) -> Job:
    get(session, job_id, who)
    job = repo.request_cancel(session, job_id)
    assert job is not None
    if job.status not in ("queued", "running", "cancelled", "interrupted"):
        raise Conflict(f"job {job_id} already {job.status}")
    return job
