"""Series resource contract: one spec audited on N checkpoints, in order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.core.surf.spec import ProbeSpec
from app.schemas.common import Body


class SeriesTarget(Body):
    target_id: str = Field(description="A target created with POST /v1/targets: one checkpoint.")
    label: str | None = Field(default=None, min_length=1, max_length=100,
                              description="Its name in the series (default: the target's model).")


class SeriesCreate(Body):
    spec: ProbeSpec = Field(description="One probe spec (one seed) for every checkpoint.")
    targets: list[SeriesTarget] = Field(min_length=2, max_length=50, description="The checkpoints, "
                                        "in order: steps and the trend follow this order.")


class SeriesAudit(BaseModel):
    label: str
    audit_id: str
    status: str = Field(description="The audit's status.")


class SeriesRead(BaseModel):
    id: str
    name: str
    status: str = Field(description="running, completed (series.json ready) or failed (an audit "
                        "did not complete).")
    audits: list[SeriesAudit]
    created_at: datetime
    finished_at: datetime | None = None
    result: dict[str, Any] | None = Field(default=None, description="series.json once completed: "
                                          "labels, audits, findings (effects per checkpoint, trend), "
                                          "steps (consecutive checkpoints compared).")
