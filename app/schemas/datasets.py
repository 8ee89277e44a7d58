"""Dataset resource contract."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from app.schemas.jobs import JobRead


class DatasetStatus(StrEnum):
    queued = "queued"
    ingesting = "ingesting"
    ready = "ready"
    failed = "failed"
    cancelled = "cancelled"
    interrupted = "interrupted"


STATUS = {"succeeded": "ready", "running": "ingesting"}


class SkippedLine(BaseModel):
    line: int = Field(description="1-based line number in the upload.")
    error: str


class DatasetMeta(BaseModel):
    model_config = ConfigDict(extra="allow")
    lines: int | None = Field(default=None, description="Lines in the upload.")
    bad_lines: int | None = Field(default=None, description="Lines that failed validation.")
    rows: int | None = Field(default=None, description="Rows stored and indexed.")
    n_clusters: int | None = Field(default=None, description="Prompt clusters (k-means).")
    clusters: dict[str, str] = Field(default_factory=dict, description="Cluster id → label.")
    index_type: str | None = Field(default=None, description="FAISS index kind.")
    seconds: float | None = Field(default=None, description="Ingest time.")


class DatasetRead(BaseModel):
    id: str
    name: str
    status: DatasetStatus
    n_rows: int
    skipped: list[SkippedLine] = Field(description="Bad lines (number and error), first 100.")
    meta: DatasetMeta
    job: JobRead | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any, job: Any) -> DatasetRead:
        status = row.status
        if row.status != "ready" and job is not None:
            status = STATUS.get(job.status, job.status)
        return cls(id=row.id, name=row.name, status=DatasetStatus(status), n_rows=row.n_rows,
                   skipped=[SkippedLine.model_validate(s) for s in row.skipped or []],
                   meta=DatasetMeta.model_validate(row.meta or {}),
                   job=JobRead.from_row(job) if job else None, created_at=row.created_at)


class DatasetList(BaseModel):
    items: list[DatasetRead]
