"""/v1/organism-sweeps: the toy-model lab's predictiveness sweeps as jobs (README, "The toy-model lab")."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse

from app.api.deps import Reader, SessionDep, SettingsDep, Writer
from app.organisms import sweeps as service
from app.schemas.common import ERROR_RESPONSES, MAX_OFFSET
from app.schemas.organisms import SweepCreate, SweepList, SweepRead

router = APIRouter(prefix="/v1/organism-sweeps", tags=["organisms"], responses=ERROR_RESPONSES)


@router.post("", status_code=201)
def sweeps_create(body: SweepCreate, session: SessionDep, settings: SettingsDep, who: Writer) -> SweepRead:
    """Queue a sweep: one LoRA organism per (value, seed), each audited with the sweep's probe spec."""
    return SweepRead.from_job(service.create(session, settings, body.sweep, who))


@router.get("")
def sweeps_list(session: SessionDep, who: Reader, limit: int = Query(100, ge=1, le=1000),
                offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> SweepList:
    return SweepList(items=[SweepRead.from_job(j) for j in service.list_sweeps(session, who, limit=limit,
                                                                              offset=offset)])


@router.get("/{sweep_id}")
def sweeps_get(sweep_id: str, session: SessionDep, who: Reader) -> SweepRead:
    return SweepRead.from_job(service.get(session, sweep_id, who))


@router.get("/{sweep_id}/result")
def sweeps_result(sweep_id: str, session: SessionDep, who: Reader) -> dict[str, Any]:
    """sweep.json: each point's effect with its CI and audit id, and the trend."""
    return service.result(session, sweep_id, who)


@router.get("/{sweep_id}/plot", response_class=HTMLResponse)
def sweeps_plot(sweep_id: str, session: SessionDep, who: Reader) -> HTMLResponse:
    """The effect against the swept share, with CIs and the fitted trend (HTML + SVG)."""
    from app.core.reports.html import sweep_html

    return HTMLResponse(sweep_html(service.result(session, sweep_id, who)))


@router.post("/{sweep_id}/cancel")
def sweeps_cancel(sweep_id: str, session: SessionDep, who: Writer) -> SweepRead:
    """Stops at the next step (a fine-tune under way finishes first; its organism stays cached)."""
    return SweepRead.from_job(service.cancel(session, sweep_id, who))
