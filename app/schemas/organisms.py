"""Organism sweep resource contract: the job that builds and audits a sweep's organisms."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.schemas.common import Body
from app.schemas.jobs import JobRead, JobStatus, Progress


class SweepCreate(Body):
    sweep: str | dict[str, Any] = Field(description="A shipped sweep's name (`surfturf organism list`: "
                                        "presence-quick, presence, dilution), or a sweep document: "
                                        "{name, organism, probe, sweep: {axis, chunk, feature, level, "
                                        "behaviour, values, seeds}, answers, train}; organism and probe "
                                        "inline or a shipped spec's name (README, \"The toy-model lab\").")


class SweepRead(BaseModel):
    id: str = Field(description="The sweep's job id (also readable at /v1/jobs/{id}).")
    name: str
    axis: str = Field(description="presence or dilution.")
    trigger: str = Field(description="feature=level, the swept trigger.")
    behaviour: str
    organisms: int = Field(description="Points planned: values × seeds, one organism each.")
    status: JobStatus
    progress: Progress = Field(description="Organisms done of planned; the message names the organism "
                               "and its audit's own progress.")
    error: str | None
    trend: dict[str, Any] | None = Field(description="Once done: the meta-regression of effect on the "
                                         "swept share (estimate, CI, p); the rest at /result.")
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_job(cls, job: Any) -> SweepRead:
        spec = (job.payload or {}).get("sweep", {})
        axis = spec.get("sweep", {})
        read = JobRead.from_row(job)
        return cls(id=job.id, name=spec.get("name", ""), axis=axis.get("axis", ""),
                   trigger=f"{axis.get('feature')}={axis.get('level')}", behaviour=axis.get("behaviour", ""),
                   organisms=len(axis.get("values", [])) * int(axis.get("seeds", 1)), status=read.status,
                   progress=read.progress, error=job.error, trend=(job.result or {}).get("trend"),
                   created_at=job.created_at, finished_at=job.finished_at)


class SweepList(BaseModel):
    items: list[SweepRead]
