"""Search resource contract: a SURF adaptive search and its confirmation audit."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from app.core.search.result import Discovery
from app.core.search.spec import SearchSpec
from app.schemas.common import Body
from app.schemas.jobs import JobRead


class SearchStatus(StrEnum):
    queued = "queued"
    running = "running"
    confirming = "confirming"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"
    interrupted = "interrupted"


class SearchCreate(Body):
    target_id: str = Field(description="A target created with POST /v1/targets.")
    spec: SearchSpec = Field(description="The search spec (also at GET /v1/schemas/search-spec).")


class ConfirmationCreate(Body):
    """Confirm on its own: the search's top-k, or named attributes of its pool."""

    top_k: int | None = Field(default=None, ge=1, le=8, description="Default: the spec's confirm.top_k.")
    attributes: list[str] | None = Field(default=None, min_length=1, max_length=8,
                                         description="Attribute ids of the search's pool.")
    samples_per_prompt: int | None = Field(default=None, ge=1, le=10_000)
    prompts: list[str] | None = Field(default=None, min_length=1, description="Default: the "
                                      "search's held-out prompts.")


class SearchRead(BaseModel):
    id: str
    name: str
    target_id: str
    status: SearchStatus = Field(description="From its job; `confirming` while its confirmation "
                                 "audit runs; `completed` once the result is stored.")
    job: JobRead | None
    confirmation_audit_id: str | None = Field(description="The audit that confirms the top "
                                              "attributes (it links back: config.search_id).")
    discoveries: list[Discovery] | None = Field(description="Once completed: the attributes sent "
                                                "to confirmation and their verdicts.")
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_row(cls, row: Any, job: Any) -> SearchRead:
        status = {"succeeded": "completed"}.get(job.status, job.status) if job else "queued"
        if row.confirmation_audit_id and status in ("queued", "running") and row.result is None:
            status = "confirming"
        return cls(id=row.id, name=row.name, target_id=row.target_id, status=SearchStatus(status),
                   job=JobRead.from_row(job) if job else None,
                   confirmation_audit_id=row.confirmation_audit_id,
                   discoveries=([Discovery.model_validate(d) for d in row.result["discoveries"]]
                                if row.result else None),
                   created_at=row.created_at, finished_at=row.finished_at)


class SearchList(BaseModel):
    items: list[SearchRead]
