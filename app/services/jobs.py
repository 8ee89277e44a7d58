"""Job use cases for the API: read, list, cancel."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app.db.repositories import jobs as repo
from app.db.tables import Job
from app.errors import Conflict, NotFound


def get(session: Session, job_id: str) -> Job:
    job = repo.get(session, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    return job


def cancel(session: Session, job_id: str) -> Job:
    job = repo.request_cancel(session, job_id)
    if job is None:
        raise NotFound(f"job {job_id} not found")
    if job.status not in ("queued", "running", "cancelled"):
        raise Conflict(f"job {job_id} already {job.status}")
    return job
