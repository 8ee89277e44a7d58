"""Job resource contract: status, attempts, progress, error."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from app.schemas.common import ORMModel


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"
    interrupted = "interrupted"


class Progress(BaseModel):
    done: int = Field(description="Units finished (samples, rows).")
    total: int | None = Field(description="Units planned, once known.")
    message: str | None = Field(description="The current phase; `done` once finished.")


class JobRead(ORMModel):
    id: str
    kind: str = Field(description="Task name, <domain>.<verb>: audit.run, audit.chunk (one slice "
                      "of a big audit), dataset.ingest, trace.run, webhook.deliver.")
    status: JobStatus
    attempts: int
    max_attempts: int
    cancel_requested: bool
    progress: Progress
    error: str | None
    result: dict[str, Any] | None = Field(description="The task's summary (ids and counts); the "
                                          "full result is the resource's own (report, trace).")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    run_after: datetime

    @classmethod
    def from_row(cls, row: Any) -> JobRead:
        return cls(
            id=row.id, kind=row.kind, status=JobStatus(row.status), attempts=row.attempts,
            max_attempts=row.max_attempts, cancel_requested=row.cancel_requested,
            progress=Progress(done=row.progress_done, total=row.progress_total,
                              message=row.progress_message),
            error=row.error, result=row.result, created_at=row.created_at,
            started_at=row.started_at, finished_at=row.finished_at, run_after=row.run_after,
        )


class JobList(BaseModel):
    items: list[JobRead]
