"""/v1/traces: which chunk and prompt feature of a dataset taught a behaviour (TURF)."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from app.api.deps import Reader, SessionDep, SettingsDep, Writer
from app.datasets import traces as service
from app.schemas.common import ERROR_RESPONSES, MAX_OFFSET
from app.schemas.traces import TraceCreate, TraceList, TraceRead
from app.services import jobs as jobs_service

router = APIRouter(tags=["turf"], responses=ERROR_RESPONSES)


@router.post("/v1/traces", status_code=201)
def traces_create(body: TraceCreate, session: SessionDep, settings: SettingsDep, who: Writer
                  ) -> TraceRead:
    row = service.create(session, settings, body.model_dump(mode="json", exclude_none=True), who)
    return TraceRead.from_row(row, jobs_service.job_of(session, row))


@router.get("/v1/traces")
def traces_list(session: SessionDep, who: Reader, limit: int = Query(100, ge=1, le=1000),
                offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> TraceList:
    rows = service.list_traces(session, who, limit=limit, offset=offset)
    return TraceList(items=[TraceRead.from_row(r, jobs_service.job_of(session, r)) for r in rows])


@router.get("/v1/traces/{trace_id}/report.html", response_class=HTMLResponse,
            responses=ERROR_RESPONSES)
def traces_report_html(trace_id: str, session: SessionDep, who: Reader) -> HTMLResponse:
    from app.core.reports.html import trace_html  # matplotlib: imported where a page is drawn

    return HTMLResponse(trace_html(service.result(session, trace_id, who)))


@router.get("/v1/traces/{trace_id}")
def traces_get(trace_id: str, session: SessionDep, who: Reader) -> TraceRead:
    row = service.get(session, trace_id, who)
    return TraceRead.from_row(row, jobs_service.job_of(session, row))
