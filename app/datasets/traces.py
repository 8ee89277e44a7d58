"""Trace use cases: create (trace + job), read, list; the trace.run task is tasks.py's."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.audits import use_cases as audits_service
from app.config import Settings
from app.core.jobs import JobKind
from app.core.turf.request import NoSuchFinding, TraceRequest, from_report
from app.datasets import use_cases as datasets_service
from app.db.repositories import jobs as jobs_repo
from app.db.repositories import traces as traces_repo
from app.db.tables import Trace
from app.errors import Conflict, InvalidInput
from app.services.auditor import configured
from app.services.owners import Principal, visible
from app.services.validation import validate


def parse_request(data: dict[str, Any]) -> TraceRequest:
    return validate(TraceRequest, data)


def resolve(session: Session, data: dict[str, Any], who: Principal) -> TraceRequest:
    """A request by reference (`audit_id` + `finding`) becomes a full one: the finding's scorer
    and its elicited examples come from the audit's report."""
    if "audit_id" not in data:
        return parse_request(data)
    ref = data.get("finding") or {}
    report = audits_service.report(session, str(data["audit_id"]), who)
    try:
        req = from_report(report, str(data["dataset"]), ref.get("feature", ""), ref.get("behaviour", ""),
                          ref.get("level"))
    except NoSuchFinding as exc:
        raise InvalidInput(f"finding: {exc}", field="finding") from None
    extra: dict[str, Any] = {k: data[k] for k in ("k", "prompt_features", "alpha", "method") if k in data}
    return parse_request({**req.model_dump(mode="json"), **extra,
                          "examples": [*req.model_dump(mode="json")["examples"],
                                       *data.get("examples", [])][:100]})


def create(session: Session, settings: Settings, data: dict[str, Any], who: Principal) -> Trace:
    from app.core.turf.attribute_index import AttributeIndex

    req = resolve(session, data, who)
    ds = datasets_service.get(session, req.dataset, who)
    if ds.status != "ready":
        raise Conflict(f"dataset {ds.name} is {ds.status}; wait for its ingest job {ds.job_id}")
    if req.method == "attributes":
        if not AttributeIndex.exists(datasets_service.dataset_dir(settings, ds.id)):
            raise Conflict(f"dataset {ds.name} has no attributes yet: run `surfturf turf attributes "
                           f"--dataset {ds.name}` (POST /v1/datasets/{ds.id}/attributes) first")
        if not configured(settings):
            raise InvalidInput("method attributes: the auditor names the crux; set SURFTURF_AUDITOR_URL "
                               "and SURFTURF_AUDITOR_MODEL", field="method")
    row = traces_repo.add(session, dataset_id=ds.id, owner=ds.owner, request=req.model_dump(mode="json"))
    row.job_id = jobs_repo.enqueue(session, JobKind.trace_run, {"trace_id": row.id}, owner=ds.owner,
                                   max_attempts=settings.job_max_attempts).id
    return row


def get(session: Session, trace_id: str, who: Principal | None = None) -> Trace:
    return visible(traces_repo.get(session, trace_id), who, "trace", trace_id)


def result(session: Session, trace_id: str, who: Principal) -> dict[str, Any]:
    row = get(session, trace_id, who)
    if row.result is None:
        job = jobs_repo.get(session, row.job_id or "")
        state = job.status if job is not None else "queued"
        raise Conflict(f"trace {trace_id} has no result ({state}); poll GET /v1/traces/{trace_id}")
    return row.result


def list_traces(session: Session, who: Principal, *, limit: int, offset: int) -> list[Trace]:
    return traces_repo.list_traces(session, owner=who.scope, limit=limit, offset=offset)
