"""Dataset resource contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.schemas.jobs import JobRead

STATUS = {"succeeded": "ready", "running": "ingesting"}


class DatasetRead(BaseModel):
    id: str
    name: str
    status: str = Field(description="queued | ingesting | ready | failed | cancelled")
    n_rows: int
    skipped: list[dict[str, Any]] = Field(description="Bad lines (number and error), first 100.")
    meta: dict[str, Any] = Field(description="Line counts, clusters and their labels, index type.")
    job: JobRead | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any, job: Any) -> DatasetRead:
        status = row.status
        if row.status != "ready" and job is not None:
            status = STATUS.get(job.status, job.status)
        return cls(id=row.id, name=row.name, status=status, n_rows=row.n_rows,
                   skipped=row.skipped or [], meta=row.meta,
                   job=JobRead.from_row(job) if job else None, created_at=row.created_at)


class DatasetList(BaseModel):
    items: list[DatasetRead]
