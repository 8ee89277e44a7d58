"""Trace resource contract."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.schemas.jobs import JobRead


class TraceRead(BaseModel):
    id: str
    dataset_id: str
    status: str
    request: dict[str, Any]
    result: dict[str, Any] | None = Field(description="TraceResult (app/core/turf/trace.py) when done.")
    job: JobRead | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any, job: Any) -> TraceRead:
        status = {"succeeded": "completed"}.get(job.status, job.status) if job else "unknown"
        return cls(id=row.id, dataset_id=row.dataset_id, status=status, request=row.request,
                   result=row.result, job=JobRead.from_row(job) if job else None, created_at=row.created_at)
