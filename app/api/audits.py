"""/v1/audits: run a probe spec against a target; read progress and the report."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from app.api.deps import Reader, SessionDep, SettingsDep, Writer
from app.audits import use_cases as service
from app.core.surf.compare_report import CompareReport
from app.core.surf.report import AuditReport
from app.core.surf.spec import ProbeSpec
from app.schemas.audits import AuditCreate, AuditList, AuditRead
from app.schemas.common import ERROR_RESPONSES, MAX_OFFSET
from app.services import jobs as jobs_service

router = APIRouter(tags=["audits"], responses=ERROR_RESPONSES)


@router.post("/v1/audits", status_code=201)
def audits_create(body: AuditCreate, session: SessionDep, settings: SettingsDep, who: Writer
                  ) -> AuditRead:
    row = service.create(session, settings, target_id=body.target_id,
                         spec=body.spec.model_dump(mode="json"), who=who,
                         baseline_audit_id=body.baseline_audit_id)
    return AuditRead.from_row(row, jobs_service.job_of(session, row))


@router.get("/v1/audits")
def audits_list(session: SessionDep, who: Reader, limit: int = Query(50, ge=1, le=500),
                offset: int = Query(0, ge=0, le=MAX_OFFSET)) -> AuditList:
    rows = service.list_audits(session, who, limit=limit, offset=offset)
    return AuditList(items=[AuditRead.from_row(r, jobs_service.job_of(session, r)) for r in rows])


@router.get("/v1/audits/{audit_id}")
def audits_get(audit_id: str, session: SessionDep, who: Reader) -> AuditRead:
    row = service.get(session, audit_id, who)
    return AuditRead.from_row(row, jobs_service.job_of(session, row))


@router.get("/v1/audits/{audit_id}/report")
def audits_report(audit_id: str, session: SessionDep, who: Reader) -> AuditReport:
    return AuditReport.model_validate(service.report(session, audit_id, who))


@router.get("/v1/audits/{baseline_id}/compare/{candidate_id}")
def audits_compare(baseline_id: str, candidate_id: str, session: SessionDep, who: Reader,
                   common_prompts: bool = Query(False, description="Compare the prompts both specs have "
                                                "when their prompt lists differ (said in the output).")
                   ) -> CompareReport:
    """Did each finding grow, shrink or stay between two audits of one spec? Paired by prompt;
    the first audit is the baseline (differences are candidate − baseline)."""
    return CompareReport.model_validate(service.compare(session, baseline_id, candidate_id, who,
                                                        common_prompts=common_prompts))


@router.get("/v1/audits/{audit_id}/report.html", response_class=HTMLResponse,
            responses=ERROR_RESPONSES)
def audits_report_html(audit_id: str, session: SessionDep, who: Reader) -> HTMLResponse:
    """The report as one self-contained HTML page: plots, tables, the responses behind flags."""
    from app.core.reports.html import audit_html  # matplotlib: imported where a page is drawn

    return HTMLResponse(audit_html(service.report(session, audit_id, who)))


@router.get("/v1/audits/{audit_id}/samples", response_class=StreamingResponse,
            responses={200: {"content": {"application/x-ndjson": {"schema": {
                "type": "string", "description": "One sample per line: prompt_index, levels, "
                "sample_index, scores {behaviour: true|false|null}, response, error, messages "
                "(the `surfturf audit analyze` format)."}}}}})
def audits_samples(audit_id: str, request: Request, who: Reader) -> StreamingResponse:
    lines = service.export_samples(request.app.state.session_factory, audit_id, who)
    first = next(lines, "")  # raises NotFound here, before the response starts
    return StreamingResponse(_chain(first, lines), media_type="application/x-ndjson",
                             headers={"Content-Disposition": f'attachment; filename="{audit_id}.jsonl"'})


def _chain(first: str, rest: Any) -> Any:
    if first:
        yield first
    yield from rest


@router.post("/v1/audits/{audit_id}/cancel")
def audits_cancel(audit_id: str, session: SessionDep, who: Writer) -> AuditRead:
    job = service.cancel(session, audit_id, who)
    return AuditRead.from_row(service.get(session, audit_id, who), job)


@router.post("/v1/audits/{audit_id}/resume")
def audits_resume(audit_id: str, session: SessionDep, settings: SettingsDep, who: Writer) -> AuditRead:
    """Queue a cancelled or failed audit again: it continues from its stored samples."""
    row = service.resume(session, settings, audit_id, who)
    return AuditRead.from_row(row, jobs_service.job_of(session, row))


@router.get("/v1/schemas/probe-spec")
def schemas_probe_spec(who: Reader) -> dict[str, Any]:
    return ProbeSpec.model_json_schema()
