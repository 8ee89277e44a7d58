"""Audit resource contract."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from app.core.surf.report import Totals
from app.core.surf.spec import ProbeSpec
from app.schemas.common import Body
from app.schemas.jobs import JobRead


class AuditStatus(StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
    interrupted = "interrupted"


STATUS = {"succeeded": AuditStatus.completed}


class AuditCreate(Body):
    target_id: str = Field(description="A target created with POST /v1/targets.")
    spec: ProbeSpec = Field(description="The probe spec (also at GET /v1/schemas/probe-spec).")
    baseline_audit_id: str | None = Field(default=None, description="A finished audit of the same spec "
                                          "(an earlier checkpoint): when this one finishes it is compared "
                                          "with it, paired by prompt, and `audit.regressed` is sent if a "
                                          "finding grew (GET /v1/audits/{baseline}/compare/{this}).")


class AuditSummary(BaseModel):
    findings: int
    flagged: int
    miscalibrated: int
    verdicts: dict[str, int] = Field(description="Verdict → findings with it.")
    totals: Totals


class AuditRead(BaseModel):
    id: str
    name: str
    target_id: str
    status: AuditStatus = Field(description="From its job; `completed` once the report is stored. "
                                "A chunked audit whose job waits on its chunks is `running`.")
    job: JobRead | None
    created_at: datetime
    finished_at: datetime | None
    summary: AuditSummary | None = Field(description="Counts of findings once completed.")
    search_id: str | None = Field(default=None, description="The search this audit confirms, if any.")
    baseline_audit_id: str | None = Field(default=None, description="The audit it is compared with "
                                          "when it finishes, if one was named.")
    series_id: str | None = Field(default=None, description="The series it is a checkpoint of, if any.")

    @classmethod
    def from_row(cls, row: Any, job: Any) -> AuditRead:
        status = AuditStatus(STATUS.get(job.status, job.status)) if job else AuditStatus.queued
        if row.report is not None and (row.config or {}).get("run_by"):
            status = AuditStatus.completed  # its sweep's job goes on to the next organism
        chunked = bool((row.config or {}).get("chunk_jobs"))
        if status is AuditStatus.queued and chunked and job.started_at is not None:
            status = AuditStatus.running  # handed back between checks on its chunks
        summary = None
        if row.report:
            fs = row.report.get("findings", [])
            summary = AuditSummary(findings=len(fs), flagged=sum(f["flagged"] for f in fs),
                                   miscalibrated=sum(f["miscalibrated"] for f in fs),
                                   verdicts=dict(Counter(f["verdict"] for f in fs)),
                                   totals=Totals.model_validate(row.report["totals"]))
        return cls(id=row.id, name=row.name, target_id=row.target_id, status=status,
                   job=JobRead.from_row(job) if job else None, created_at=row.created_at,
                   finished_at=row.finished_at, summary=summary,
                   search_id=(row.config or {}).get("search_id"),
                   baseline_audit_id=(row.config or {}).get("baseline_audit_id"),
                   series_id=(row.config or {}).get("series_id"))


class AuditList(BaseModel):
    items: list[AuditRead]
