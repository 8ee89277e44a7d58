"""/v1/searches: SURF's adaptive search for triggers nobody listed, then their confirmation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query

from app.api.deps import Reader, SessionDep, SettingsDep, Writer
from app.core.search.result import SearchResult
from app.core.search.spec import SearchSpec
from app.schemas.audits import AuditRead
from app.schemas.common import ERROR_RESPONSES, MAX_OFFSET
from app.schemas.searches import ConfirmationCreate, SearchCreate, SearchList, SearchRead
from app.searches import use_cases as service
from app.services import jobs as jobs_service

router = APIRouter(tags=["searches"], responses=ERROR_RESPONSES)


@router.post("/v1/searches", status_code=201)
def searches_create(body: SearchCreate, session: SessionDep, settings: SettingsDep, who: Writer
                    ) -> SearchRead:
    row = service.create(session, settings, target_id=body.target_id,
                         spec=body.spec.model_dump(mode="json", exclude_none=True), who=who)
    return SearchRead.from_row(row, jobs_service.job_of(session, row))


@router.get("/v1/searches")
def searches_list(session: SessionDep, who: Reader, limit: int = Query(100, ge=1, le=1000),
                  offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> SearchList:
    rows = service.list_searches(session, who, limit=limit, offset=offset)
    return SearchList(items=[SearchRead.from_row(r, jobs_service.job_of(session, r)) for r in rows])


@router.get("/v1/searches/{search_id}")
def searches_get(search_id: str, session: SessionDep, who: Reader) -> SearchRead:
    row = service.get(session, search_id, who)
    return SearchRead.from_row(row, jobs_service.job_of(session, row))


@router.get("/v1/searches/{search_id}/result")
def searches_result(search_id: str, session: SessionDep, who: Reader) -> SearchResult:
    """search.json: ranking, top examples, score curve, and the confirmed discoveries."""
    return SearchResult.model_validate(service.result(session, search_id, who))


@router.post("/v1/searches/{search_id}/confirmations", status_code=201)
def searches_confirm(search_id: str, body: ConfirmationCreate, session: SessionDep, settings: SettingsDep,
                     who: Writer) -> AuditRead:
    """A new confirmation audit of this search's top attributes (or the ones named)."""
    audit = service.confirm(session, settings, search_id, who, **body.model_dump())
    return AuditRead.from_row(audit, jobs_service.job_of(session, audit))


@router.post("/v1/searches/{search_id}/cancel")
def searches_cancel(search_id: str, session: SessionDep, who: Writer) -> SearchRead:
    job = service.cancel(session, search_id, who)
    return SearchRead.from_row(service.get(session, search_id, who), job)


@router.get("/v1/schemas/search-spec")
def schemas_search_spec(who: Reader) -> dict[str, Any]:
    return SearchSpec.model_json_schema()
