"""Trace resource contract: by value (behaviour and examples) or by reference (an audit finding)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from app.core.surf.spec import BehaviourSpec
from app.core.turf.request import TraceExample, TraceRequest
from app.core.turf.result import TraceResult
from app.schemas.common import Body
from app.schemas.jobs import JobRead


class TraceStatus(StrEnum):
    queued = "queued"
    running = "running"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
    interrupted = "interrupted"


class FindingRef(Body):
    feature: str = Field(description="The finding's trigger feature.")
    behaviour: str = Field(description="The behaviour whose rate moved.")
    level: str | None = Field(default=None, description="The level (default: largest effect).")


class TraceCreate(Body):
    """Either `audit_id` + `finding` (the server takes the scorer and the failing examples from
    the audit's report), or `behaviour_name` with a `behaviour` scorer and/or `examples`."""

    dataset: str = Field(description="Dataset name or id.")
    audit_id: str | None = Field(default=None, description="Trace a finding of this audit.")
    finding: FindingRef | None = Field(default=None, description="With audit_id: which finding.")
    behaviour_name: str | None = Field(default=None, min_length=1, max_length=200,
                                       description="Without audit_id: what is traced.")
    behaviour: BehaviourSpec | None = Field(default=None, description="Scorer run over every "
                                            "training response (exact positives).")
    examples: list[TraceExample] = Field(default_factory=list, max_length=100,
                                         description="Failing responses: their nearest neighbours.")
    k: int = Field(default=1000, ge=1, le=100_000)
    prompt_features: dict[str, str] = Field(default_factory=dict, description="Your own suspected "
                                            "triggers: name → regex over the training prompt.")
    alpha: float = Field(default=0.05, gt=0, lt=1)
    method: Literal["auto", "attributes", "groups"] = Field(
        default="auto", description="attributes: also the paper's crux retrieval over the dataset's "
        "LLM-written attributes (POST /v1/datasets/{id}/attributes first); auto: when it has them.")

    @model_validator(mode="after")
    def _one_way(self) -> TraceCreate:
        if self.audit_id is not None:
            if self.finding is None:
                raise ValueError("finding: required with audit_id ({feature, behaviour, level?})")
        elif self.behaviour_name is None:
            raise ValueError("behaviour_name: required unless audit_id and finding are given")
        elif self.finding is not None:
            raise ValueError("finding: only with audit_id")
        return self


class TraceRead(BaseModel):
    id: str
    dataset_id: str
    status: TraceStatus
    request: TraceRequest = Field(description="What was traced, examples included (resolved from "
                                  "the audit when requested by reference).")
    result: TraceResult | None = Field(description="Enrichment by chunk, cluster and attribute.")
    job: JobRead | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: Any, job: Any) -> TraceRead:
        status = {"succeeded": "completed"}.get(job.status, job.status) if job else "queued"
        return cls(id=row.id, dataset_id=row.dataset_id, status=TraceStatus(status),
                   request=TraceRequest.model_validate(row.request),
                   result=TraceResult.model_validate(row.result) if row.result else None,
                   job=JobRead.from_row(job) if job else None, created_at=row.created_at)


class TraceList(BaseModel):
    items: list[TraceRead]
