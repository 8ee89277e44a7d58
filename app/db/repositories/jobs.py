"""Durable job queue in the main database: atomic claim, lease, heartbeat, retry, cancel."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import CursorResult, and_, case, func, or_, select, update
from sqlalchemy.orm import Session

from app.core.jobs import JobKind
from app.db.tables import Job
from app.db.types import utcnow

ACTIVE = ("queued", "running")
# Ended without finishing, and resumable: cancelled on purpose, failed, or stopped at the terminal.
RESUMABLE = ("cancelled", "failed", "interrupted")
STATUSES = (*ACTIVE, "succeeded", *RESUMABLE)


class LeaseLost(Exception):
    """This worker no longer holds the job's lease: another attempt owns it, so write nothing."""


def enqueue(
    session: Session, kind: JobKind, payload: dict[str, Any], *, owner: str | None = None,
    max_attempts: int = 3, priority: int = 0,
) -> Job:
    job = Job(kind=kind, payload=payload, owner=owner, max_attempts=max_attempts, priority=priority)
    session.add(job)
    session.flush()
    return job


def get(session: Session, job_id: str) -> Job | None:
    return session.get(Job, job_id)


def list_jobs(
    session: Session, *, owner: str | None, status: str | None, kind: str | None, limit: int,
    offset: int,
) -> list[Job]:
    stmt = select(Job).order_by(Job.created_at.desc()).limit(limit).offset(offset)
    if owner is not None:
        stmt = stmt.where(Job.owner == owner)
    if status:
        stmt = stmt.where(Job.status == status)
    if kind:
        stmt = stmt.where(Job.kind == kind)
    return list(session.scalars(stmt))


def counts_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Job.status, func.count()).group_by(Job.status))
    return {status: n for status, n in rows}


def reap_expired(session: Session, now: datetime) -> None:
    """Settle jobs whose worker died: cancelled if asked, failed on their last attempt."""
    expired = and_(Job.status == "running", Job.lease_expires_at < now)
    session.execute(
        update(Job)
        .where(expired, Job.cancel_requested.is_(True))
        .values(status="cancelled", finished_at=now, lease_owner=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        update(Job)
        .where(expired, Job.attempts >= Job.max_attempts)
        .values(status="failed", finished_at=now, lease_owner=None,
                error=func.coalesce(Job.error, "worker lost its lease on the last attempt"))
        .execution_options(synchronize_session=False)
    )


def claim(session: Session, worker_id: str, lease_seconds: float, kinds: list[str]) -> Job | None:
    """Atomically take one runnable job (queued and due, or running with an expired lease)."""
    now = utcnow()
    reap_expired(session, now)
    runnable = and_(
        Job.kind.in_(kinds),
        Job.cancel_requested.is_(False),
        or_(
            and_(Job.status == "queued", Job.run_after <= now),
            and_(Job.status == "running", Job.lease_expires_at < now),
        ),
    )
    pick = select(Job.id).where(runnable).order_by(Job.priority.desc(), Job.created_at).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        update(Job)
        .where(Job.id == pick.scalar_subquery())
        .where(runnable)
        .values(
            status="running",
            lease_owner=worker_id,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            heartbeat_at=now,
            attempts=Job.attempts + 1,
            started_at=func.coalesce(Job.started_at, now),
        )
        .returning(Job.id)
        .execution_options(synchronize_session=False)
    )
    job_id = session.execute(stmt).scalar_one_or_none()
    if job_id is None:
        return None
    session.flush()
    return session.get(Job, job_id, populate_existing=True)


def heartbeat(session: Session, job_id: str, worker_id: str, lease_seconds: float) -> tuple[bool, bool]:
    """Extend the lease; returns (still ours, cancel requested)."""
    now = utcnow()
    res: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == worker_id, Job.status == "running")
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds), heartbeat_at=now)
        .execution_options(synchronize_session=False)
    )
    cancel = session.scalar(select(Job.cancel_requested).where(Job.id == job_id))
    return bool(res.rowcount), bool(cancel)


def assert_lease(session: Session, job_id: str, worker_id: str) -> None:
    """Fence for a write: holds the job row (FOR UPDATE on Postgres; SQLite serialises writers)
    until the caller's transaction commits, so a reclaim cannot slip in between check and write."""
    stmt = select(Job.id).where(Job.id == job_id, Job.lease_owner == worker_id, Job.status == "running",
                                Job.lease_expires_at > utcnow())
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    if session.scalar(stmt) is None:
        raise LeaseLost(f"job {job_id}: lease no longer held by {worker_id}")


def set_progress(
    session: Session, job_id: str, worker_id: str, done: int, total: int | None, message: str | None
) -> None:
    values: dict[str, Any] = {"progress_done": done, "progress_message": message}
    if total is not None:
        values["progress_total"] = total
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == worker_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


def _finish(session: Session, job_id: str, worker_id: str, **values: Any) -> bool:
    res: CursorResult[Any] = session.execute(  # type: ignore[assignment]
        update(Job)
        .where(Job.id == job_id, Job.lease_owner == worker_id, Job.status == "running")
        .values(lease_owner=None, lease_expires_at=None, **values)
        .execution_options(synchronize_session=False)
    )
    return bool(res.rowcount)


def succeed(session: Session, job_id: str, worker_id: str, result: dict[str, Any] | None) -> bool:
    return _finish(session, job_id, worker_id, status="succeeded", result=result,
                   finished_at=utcnow(), error=None)


def fail_or_retry(
    session: Session, job_id: str, worker_id: str, error: str, retry_at: datetime | None
) -> bool:
    if retry_at is None:
        return _finish(session, job_id, worker_id, status="failed", error=error, finished_at=utcnow())
    return _finish(session, job_id, worker_id, status="queued", error=error, run_after=retry_at)


def mark_cancelled(session: Session, job_id: str, worker_id: str) -> bool:
    return _finish(session, job_id, worker_id, status="cancelled", finished_at=utcnow())


def release(session: Session, job_id: str, worker_id: str, delay: float = 0.0) -> bool:
    """Graceful stop, or a wait on other jobs: hand the job back without spending an attempt."""
    return _finish(session, job_id, worker_id, status="queued",
                   run_after=utcnow() + timedelta(seconds=delay), attempts=Job.attempts - 1)


def note_progress(session: Session, job_id: str, done: int, message: str | None,
                  total: int | None = None) -> None:
    """Progress summed from several writers (a chunked audit's chunks and its own job): unfenced,
    since the job may be waiting with no lease while its chunks sample, and never backwards, since
    a writer holding an older count may commit after one holding a newer count."""
    values: dict[str, Any] = {
        "progress_done": case((Job.progress_done < done, done), else_=Job.progress_done),
        "progress_message": message}
    if total is not None:
        values["progress_total"] = total
    session.execute(update(Job).where(Job.id == job_id, Job.status.in_(ACTIVE)).values(**values)
                    .execution_options(synchronize_session=False))


def requeue(session: Session, job_id: str, extra_attempts: int) -> Job | None:
    """Resume a cancelled or failed job: queued again with `extra_attempts` more to spend."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None or job.status not in RESUMABLE:
        return job
    job.status, job.cancel_requested, job.error, job.finished_at = "queued", False, None, None
    job.run_after = utcnow()
    job.max_attempts = job.attempts + extra_attempts
    session.flush()
    return job


def interrupt(session: Session, job_id: str) -> Job | None:
    """Ctrl-C at the terminal: the in-process worker is gone, so the job ends `interrupted` at
    once (resumable, and not to be confused with a deliberate cancel)."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is not None and job.status in ACTIVE:
        job.status, job.finished_at, job.lease_owner = "interrupted", utcnow(), None
        session.flush()
    return job


def request_cancel(session: Session, job_id: str) -> Job | None:
    """Queued jobs cancel at once; running ones are stopped by their worker's heartbeat."""
    job = session.get(Job, job_id, with_for_update=True)
    if job is None:
        return None
    if job.status == "queued":
        job.status = "cancelled"
        job.finished_at = utcnow()
    if job.status in ACTIVE:
        job.cancel_requested = True
    session.flush()
    return job
