"""/v1/series: one spec audited on N checkpoints; series.json and its page once all finish."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from app.api.deps import Reader, SessionDep, SettingsDep, Writer
from app.audits import series as service
from app.errors import Conflict
from app.schemas.common import ERROR_RESPONSES
from app.schemas.series import SeriesCreate, SeriesRead

router = APIRouter(tags=["series"], responses=ERROR_RESPONSES)


@router.post("/v1/series", status_code=201)
def series_create(body: SeriesCreate, session: SessionDep, settings: SettingsDep, who: Writer) -> SeriesRead:
    row = service.create(session, settings, spec=body.spec.model_dump(mode="json"),
                         checkpoints=[t.model_dump() for t in body.targets], who=who)
    return SeriesRead.model_validate(service.read(session, row.id, who))


@router.get("/v1/series/{series_id}")
def series_get(series_id: str, session: SessionDep, who: Reader) -> SeriesRead:
    return SeriesRead.model_validate(service.read(session, series_id, who))


@router.get("/v1/series/{series_id}/report.html", response_class=HTMLResponse,
            responses={200: {"content": {"text/html": {}}}})
def series_html(series_id: str, session: SessionDep, who: Reader) -> HTMLResponse:
    """series.json as one self-contained page: the effects across checkpoints plotted, trends, steps."""
    from app.core.reports.html import series_html as render

    doc = service.read(session, series_id, who)
    if doc["result"] is None:
        raise Conflict(f"series {series_id} is {doc['status']}: its page is ready once every audit finished")
    return HTMLResponse(render(doc["result"]))
