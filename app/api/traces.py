"""/v1/traces: which chunk and prompt feature of a dataset taught a behaviour (TURF)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from app.api.deps import Reader, SessionDep, SettingsDep, Writer
from app.schemas.common import ERROR_RESPONSES
from app.schemas.traces import TraceRead
from app.services import jobs as jobs_service
from app.services import traces as service

router = APIRouter(tags=["turf"], responses=ERROR_RESPONSES)


@router.post("/v1/traces", status_code=201)
def create_trace(body: dict[str, Any], session: SessionDep, settings: SettingsDep, who: Writer
                 ) -> TraceRead:
    row = service.create(session, settings, body, who)
    return TraceRead.from_row(row, jobs_service.job_of(session, row))


@router.get("/v1/traces/{trace_id}")
def get_trace(trace_id: str, session: SessionDep, who: Reader) -> TraceRead:
    row = service.get(session, trace_id, who)
    return TraceRead.from_row(row, jobs_service.job_of(session, row))
