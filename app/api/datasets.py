"""/v1/datasets (streamed JSONL upload) and /v1/traces."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from app.api.deps import Reader, SessionDep, SettingsDep, Writer
from app.db.repositories import jobs as jobs_repo
from app.errors import PayloadTooLarge
from app.schemas.common import ERROR_RESPONSES, MAX_OFFSET
from app.schemas.datasets import DatasetList, DatasetRead, TraceRead
from app.services import datasets as service
from app.services import traces as traces_service

router = APIRouter(tags=["turf"], responses=ERROR_RESPONSES)


@router.post("/v1/datasets", status_code=201,
             openapi_extra={"requestBody": {"required": True, "content": {
                 media: {"schema": {"type": "string", "format": "binary", "description": "JSONL: "
                         "{messages:[…], source?} or {prompt, response, source?} per line"}}
                 for media in ("application/x-ndjson", "application/octet-stream")}}})
async def upload_dataset(
    request: Request, session: SessionDep, settings: SettingsDep, who: Writer,
    name: str = Query(min_length=1, max_length=200, pattern=r"^[\w.-]+$"),
    on_error: Literal["skip", "reject"] = Query("reject", description="Bad lines: skip and "
                                                 "report them, or reject the whole upload."),
) -> DatasetRead:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_upload_bytes:
        raise PayloadTooLarge(f"upload of {declared} bytes exceeds {settings.max_upload_bytes} "
                              "(SURFTURF_MAX_UPLOAD_BYTES)", field="body")
    upload = await service.receive(settings, request.stream())
    ds = service.create(session, settings, name, upload, on_error, who)
    return DatasetRead.from_row(ds, jobs_repo.get(session, ds.job_id or ""))


@router.get("/v1/datasets")
def list_datasets(session: SessionDep, who: Reader, limit: int = Query(100, ge=1, le=1000),
                  offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> DatasetList:
    rows = service.list_datasets(session, who, limit=limit, offset=offset)
    return DatasetList(items=[DatasetRead.from_row(r, jobs_repo.get(session, r.job_id or "")) for r in rows])


@router.get("/v1/datasets/{ref}")
def get_dataset(ref: str, session: SessionDep, who: Reader) -> DatasetRead:
    ds = service.get(session, ref, who)
    return DatasetRead.from_row(ds, jobs_repo.get(session, ds.job_id or ""))


@router.post("/v1/traces", status_code=201)
def create_trace(body: dict[str, Any], session: SessionDep, settings: SettingsDep, who: Writer
                 ) -> TraceRead:
    row = traces_service.create(session, settings, body, who)
    return TraceRead.from_row(row, jobs_repo.get(session, row.job_id or ""))


@router.get("/v1/traces/{trace_id}")
def get_trace(trace_id: str, session: SessionDep, who: Reader) -> TraceRead:
    row = traces_service.get(session, trace_id, who)
    return TraceRead.from_row(row, jobs_repo.get(session, row.job_id or ""))
