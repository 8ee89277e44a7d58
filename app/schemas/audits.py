"""Audit resource contract."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.schemas.common import Body
from app.schemas.jobs import JobRead

STATUS = {"succeeded": "completed"}


class AuditCreate(Body):
    target_id: str = Field(description="A target created with POST /v1/targets.")
    spec: dict[str, Any] = Field(description="Probe spec; see GET /v1/schemas/probe-spec.")


class AuditRead(BaseModel):
    id: str
    name: str
    target_id: str
    status: str = Field(description="queued | running | completed | failed | cancelled (from its job)")
    job: JobRead | None
    created_at: datetime
    finished_at: datetime | None
    summary: dict[str, Any] | None = Field(description="Counts of findings once completed.")

    @classmethod
    def from_row(cls, row: Any, job: Any) -> AuditRead:
        status = STATUS.get(job.status, job.status) if job else "unknown"
        summary = None
        if row.report:
            fs = row.report.get("findings", [])
            summary = {"findings": len(fs), "flagged": sum(f["flagged"] for f in fs),
                       "miscalibrated": sum(f["miscalibrated"] for f in fs),
                       "verdicts": dict(Counter(f["verdict"] for f in fs)),
                       "totals": row.report.get("totals")}
        return cls(id=row.id, name=row.name, target_id=row.target_id, status=status,
                   job=JobRead.from_row(job) if job else None, created_at=row.created_at,
                   finished_at=row.finished_at, summary=summary)


class AuditList(BaseModel):
    items: list[AuditRead]
