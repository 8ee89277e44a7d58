"""/v1/targets: the models under audit."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from app.api.deps import Reader, SessionDep, SettingsDep, Writer
from app.schemas.common import ERROR_RESPONSES, MAX_OFFSET
from app.schemas.targets import TargetCheck, TargetCreate, TargetList, TargetRead
from app.services import targets as service

router = APIRouter(prefix="/v1/targets", tags=["targets"], responses=ERROR_RESPONSES)


@router.post("", status_code=201)
def targets_create(body: TargetCreate, session: SessionDep, settings: SettingsDep, who: Writer
                  ) -> TargetRead:
    data = body.model_dump()
    data["base_url"] = str(body.base_url)
    return TargetRead.from_row(service.create(session, settings, data, who.owner))


@router.get("")
def targets_list(session: SessionDep, who: Reader, limit: int = Query(100, ge=1, le=1000),
                 offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> TargetList:
    rows = service.list_targets(session, who, limit=limit, offset=offset)
    return TargetList(items=[TargetRead.from_row(r) for r in rows])


@router.get("/{target_id}")
def targets_get(target_id: str, session: SessionDep, who: Reader) -> TargetRead:
    return TargetRead.from_row(service.get(session, target_id, who))


@router.delete("/{target_id}", status_code=204)
def targets_delete(target_id: str, session: SessionDep, who: Writer) -> Response:
    service.delete(session, target_id, who)
    return Response(status_code=204)


@router.post("/{target_id}/check")
async def targets_check(target_id: str, session: SessionDep, settings: SettingsDep, who: Writer
                       ) -> TargetCheck:
    row = service.get(session, target_id, who)
    return TargetCheck(**await service.check(settings, row))
