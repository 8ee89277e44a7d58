"""/v1/datasets (streamed JSONL upload) and /v1/traces."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from app.api.deps import ReadKey, SessionDep, SettingsDep, WriteKey
from app.db.repositories import datasets as repo
from app.db.repositories import jobs as jobs_repo
from app.schemas.common import ERROR_RESPONSES
from app.schemas.datasets import DatasetList, DatasetRead, TraceRead
from app.services import datasets as service
from app.services import traces as traces_service

router = APIRouter(tags=["turf"], responses=ERROR_RESPONSES)


@router.post("/v1/datasets", status_code=201, dependencies=[WriteKey],
             openapi_extra={"requestBody": {"content": {"application/x-ndjson": {"schema": {
                 "type": "string", "description": "JSONL: {messages:[…], source?} or "
                 "{prompt, response, source?} per line"}}}}})
async def upload_dataset(
    request: Request, session: SessionDep, settings: SettingsDep,
    name: str = Query(min_length=1, max_length=200, pattern=r"^[\w.-]+$"),
    on_error: Literal["skip", "reject"] = Query("reject", description="Bad lines: skip and "
                                                 "report them, or reject the whole upload."),
) -> DatasetRead:
    upload = service.UploadReceiver(settings)
    try:
        async for chunk in request.stream():
            upload.feed(chunk)
    except BaseException:
        upload.close()
        upload.discard()  # a broken upload leaves nothing behind
        raise
    upload.close()
    ds = service.create(session, settings, name, upload, on_error)
    return DatasetRead.from_row(ds, jobs_repo.get(session, ds.job_id or ""))


@router.get("/v1/datasets", dependencies=[ReadKey])
def list_datasets(session: SessionDep, limit: int = Query(100, ge=1, le=1000),
                  offset: int = Query(0, ge=0)) -> DatasetList:
    rows = repo.list_datasets(session, limit=limit, offset=offset)
    return DatasetList(items=[DatasetRead.from_row(r, jobs_repo.get(session, r.job_id or "")) for r in rows])


@router.get("/v1/datasets/{ref}", dependencies=[ReadKey])
def get_dataset(ref: str, session: SessionDep) -> DatasetRead:
    ds = service.get(session, ref)
    return DatasetRead.from_row(ds, jobs_repo.get(session, ds.job_id or ""))


@router.post("/v1/traces", status_code=201, dependencies=[WriteKey])
def create_trace(body: dict[str, Any], session: SessionDep, settings: SettingsDep) -> TraceRead:
    row = traces_service.create(session, settings, body)
    return TraceRead.from_row(row, jobs_repo.get(session, row.job_id or ""))


@router.get("/v1/traces/{trace_id}", dependencies=[ReadKey])
def get_trace(trace_id: str, session: SessionDep) -> TraceRead:
    row = traces_service.get(session, trace_id)
    return TraceRead.from_row(row, jobs_repo.get(session, row.job_id or ""))
