"""/v1/datasets: streamed JSONL upload of post-training data, ingested for TURF."""

from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter, Query, Request, Response

from app.api.deps import Reader, SessionDep, SettingsDep, Writer
from app.core.surf.spec import NAME_PATTERN
from app.datasets import use_cases as service
from app.datasets.attributes import ExtractionRequest
from app.errors import PayloadTooLarge
from app.schemas.common import ERROR_RESPONSES, MAX_OFFSET
from app.schemas.datasets import DatasetList, DatasetRead
from app.schemas.jobs import JobRead
from app.services import jobs as jobs_service

router = APIRouter(tags=["turf"], responses=ERROR_RESPONSES)


@router.post("/v1/datasets", status_code=201,
             description="The body is the JSONL file itself, streamed: declared as "
             "application/octet-stream (what generated clients send); application/x-ndjson is "
             "accepted the same way.",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/octet-stream": {"schema": {
                     "type": "string", "format": "binary", "description": "JSONL: "
                     "{messages:[…], source?} or {prompt, response, source?} per line"}}}}})
async def datasets_upload(
    request: Request, settings: SettingsDep, who: Writer,
    name: str = Query(pattern=NAME_PATTERN, description="Letters, digits, _ . - (1-64; not "
                      "starting with . or -)."),
    on_error: Literal["skip", "reject"] = Query("reject", description="Bad lines: skip and "
                                                 "report them, or reject the whole upload."),
) -> DatasetRead:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_upload_bytes:
        raise PayloadTooLarge(f"upload of {declared} bytes exceeds {settings.max_upload_bytes} "
                              "(SURFTURF_MAX_UPLOAD_BYTES)", field="body")
    await asyncio.to_thread(service.require_embedder)  # before a byte is stored
    upload = await service.receive(settings, request.stream())
    # the database work runs in a thread: the event loop keeps answering every other request
    return await asyncio.to_thread(service.store_upload, request.app.state.session_factory, settings,
                                   name, upload, on_error, who, DatasetRead.from_row)


@router.get("/v1/datasets")
def datasets_list(session: SessionDep, who: Reader, limit: int = Query(100, ge=1, le=1000),
                  offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> DatasetList:
    rows = service.list_datasets(session, who, limit=limit, offset=offset)
    return DatasetList(items=[DatasetRead.from_row(r, jobs_service.job_of(session, r)) for r in rows])


@router.delete("/v1/datasets/{ref}", status_code=204, response_class=Response,
               description="The dataset, its rows, traces, index and files (409 while it is ingested).")
def datasets_delete(ref: str, session: SessionDep, settings: SettingsDep, who: Writer) -> Response:
    service.delete(session, settings, ref, who)
    return Response(status_code=204)


@router.post("/v1/datasets/{ref}/attributes", status_code=202)
def datasets_attributes(ref: str, body: ExtractionRequest, session: SessionDep, settings: SettingsDep,
                        who: Writer) -> JobRead:
    """The auditor writes ~per_row query and response attributes of each chosen row; the query
    attributes are clustered and summarised, the response attributes indexed (a job: progress,
    cancel, resume without re-asking described rows; coverage in the dataset's meta.attributes).
    Traces then use them (method auto or attributes)."""
    from app.datasets import attributes as dataset_attributes

    job = dataset_attributes.request(session, settings, ref, body.model_dump(), who)
    return JobRead.from_row(job)


@router.get("/v1/datasets/{ref}")
def datasets_get(ref: str, session: SessionDep, who: Reader) -> DatasetRead:
    ds = service.get(session, ref, who)
    return DatasetRead.from_row(ds, jobs_service.job_of(session, ds))
