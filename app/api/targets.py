"""/v1/targets: the models under audit."""

from __future__ import annotations

from fastapi import APIRouter, Query, Response

from app.api.deps import ReadKey, SessionDep, SettingsDep, WriteKey
from app.db.repositories import targets as repo
from app.schemas.common import ERROR_RESPONSES
from app.schemas.targets import TargetCheck, TargetCreate, TargetList, TargetRead
from app.services import targets as service

router = APIRouter(prefix="/v1/targets", tags=["targets"], responses=ERROR_RESPONSES)


@router.post("", status_code=201, dependencies=[WriteKey])
def create_target(body: TargetCreate, session: SessionDep, settings: SettingsDep) -> TargetRead:
    data = body.model_dump()
    data["base_url"] = str(body.base_url)
    return TargetRead.from_row(service.create(session, settings, data))


@router.get("", dependencies=[ReadKey])
def list_targets(
    session: SessionDep, limit: int = Query(100, ge=1, le=1000), offset: int = Query(0, ge=0)
) -> TargetList:
    rows = repo.list_targets(session, limit=limit, offset=offset)
    return TargetList(items=[TargetRead.from_row(r) for r in rows])


@router.get("/{target_id}", dependencies=[ReadKey])
def get_target(target_id: str, session: SessionDep) -> TargetRead:
    return TargetRead.from_row(service.get(session, target_id))


@router.delete("/{target_id}", status_code=204, dependencies=[WriteKey])
def delete_target(target_id: str, session: SessionDep) -> Response:
    service.delete(session, target_id)
    return Response(status_code=204)


@router.post("/{target_id}/check", dependencies=[WriteKey])
async def check_target(target_id: str, session: SessionDep, settings: SettingsDep) -> TargetCheck:
    row = service.get(session, target_id)
    return TargetCheck(**await service.check(settings, row))
