"""What happened, as webhook events: built from the rows and emitted into the outbox inside the
transaction that finishes the work (so a crash right after commit loses nothing)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.core.jobs import JobKind
from app.core.surf.report import AuditReport, Example, Finding, TargetRef
from app.db.repositories import audits as audits_repo
from app.db.repositories import datasets as datasets_repo
from app.db.repositories import searches as searches_repo
from app.db.repositories import targets as targets_repo
from app.db.repositories import traces as traces_repo
from app.db.tables import Audit, Dataset, Search, Trace
from app.schemas.events import (
    AuditEventData,
    AuditLinks,
    DatasetEventData,
    DiscoverySummary,
    EventType,
    ExamplePair,
    FindingSummary,
    RegressedEventData,
    SearchEventData,
    TraceEventData,
)
from app.webhooks import use_cases as webhooks


def _links(audit_id: str) -> AuditLinks:
    base = f"/v1/audits/{audit_id}"
    return AuditLinks(audit=base, report=f"{base}/report", samples=f"{base}/samples")


def _summary(f: Finding) -> FindingSummary:
    def pick(elicited: bool) -> Example | None:
        return next((e for e in f.examples if e.elicited.get(f.behaviour) is elicited), None)

    return FindingSummary(feature=f.feature, level=f.level, baseline=f.baseline, behaviour=f.behaviour,
                          effect=f.effect, ci_low=f.ci_low, ci_high=f.ci_high, ci_adj_low=f.ci_adj_low,
                          ci_adj_high=f.ci_adj_high, q_value=f.q_value, verdict=f.verdict,
                          example=ExamplePair(baseline=pick(False), trigger=pick(True)))


def audit_finished(session: Session, settings: Settings, audit: Audit, report: AuditReport) -> None:
    """audit.completed always; audit.miscalibrated too when any finding is."""
    bad = [_summary(f) for f in report.findings if f.miscalibrated]
    data = AuditEventData(audit_id=audit.id, name=report.name, target=report.target,
                          totals=report.totals, miscalibrated=bad, findings=len(report.findings),
                          flagged=sum(f.flagged for f in report.findings), links=_links(audit.id))
    webhooks.emit(session, settings, audit.owner, EventType.audit_completed, data)
    if bad:
        webhooks.emit(session, settings, audit.owner, EventType.audit_miscalibrated, data)


def audit_regressed(session: Session, settings: Settings, audit: Audit, comparison: dict[str, Any]) -> None:
    """audit.regressed, when a finding of `audit` grew against its baseline (a named one, or the
    previous checkpoint of its series)."""
    grew = [f for f in comparison["findings"] if f["verdict"] == "grew"]
    if not grew or audit.report is None:
        return
    base = comparison["baseline_audit_id"]
    report = audit.report
    data = RegressedEventData.model_validate({
        "audit_id": audit.id, "baseline_audit_id": base, "name": report["name"], "target": report["target"],
        "grew": grew, "links": _links(audit.id), "compare": f"/v1/audits/{base}/compare/{audit.id}"})
    webhooks.emit(session, settings, audit.owner, EventType.audit_regressed, data)


def dataset_ready(session: Session, settings: Settings, ds: Dataset) -> None:
    webhooks.emit(session, settings, ds.owner, EventType.dataset_ready, DatasetEventData(
        dataset_id=ds.id, name=ds.name, rows=ds.n_rows, link=f"/v1/datasets/{ds.id}"))


def trace_completed(session: Session, settings: Settings, t: Trace, result: dict[str, Any]) -> None:
    webhooks.emit(session, settings, t.owner, EventType.trace_completed, TraceEventData(
        trace_id=t.id, dataset_id=t.dataset_id, behaviour=result["behaviour"],
        top_chunk=result.get("top_chunk"), trigger=result.get("trigger"),
        statement=result.get("statement"), link=f"/v1/traces/{t.id}"))


def search_completed(session: Session, settings: Settings, search: Search, result: dict[str, Any]) -> None:
    found = [DiscoverySummary.model_validate(d) for d in result["discoveries"]]
    webhooks.emit(session, settings, search.owner, EventType.search_completed, SearchEventData(
        search_id=search.id, name=search.name, target=TargetRef.model_validate(result["target"]),
        discoveries=found, confirmed=sum(bool(d.confirmed) for d in found),
        confirmation_audit_id=search.confirmation_audit_id, link=f"/v1/searches/{search.id}"))


def _audit_failed(session: Session, settings: Settings, payload: dict[str, Any], error: str) -> None:
    if (a := audits_repo.get(session, payload.get("audit_id", ""))) is None:
        return
    tg = targets_repo.get(session, a.target_id)
    target = TargetRef(base_url=tg.base_url, model=tg.model) if tg else TargetRef()
    report = a.report or {}
    webhooks.emit(session, settings, a.owner, EventType.audit_failed, AuditEventData(
        audit_id=a.id, name=a.name, target=target, totals=report.get("totals"), error=error,
        links=_links(a.id)))


def _dataset_failed(session: Session, settings: Settings, payload: dict[str, Any], error: str) -> None:
    if (ds := datasets_repo.get(session, payload.get("dataset_id", ""))) is not None:
        webhooks.emit(session, settings, ds.owner, EventType.dataset_failed, DatasetEventData(
            dataset_id=ds.id, name=ds.name, error=error, link=f"/v1/datasets/{ds.id}"))


def _search_failed(session: Session, settings: Settings, payload: dict[str, Any], error: str) -> None:
    if (sr := searches_repo.get(session, payload.get("search_id", ""))) is None:
        return
    tg = targets_repo.get(session, sr.target_id)
    webhooks.emit(session, settings, sr.owner, EventType.search_failed, SearchEventData(
        search_id=sr.id, name=sr.name,
        target=TargetRef(base_url=tg.base_url, model=tg.model) if tg else TargetRef(),
        error=error, link=f"/v1/searches/{sr.id}"))


def _trace_failed(session: Session, settings: Settings, payload: dict[str, Any], error: str) -> None:
    if (t := traces_repo.get(session, payload.get("trace_id", ""))) is not None:
        webhooks.emit(session, settings, t.owner, EventType.trace_failed, TraceEventData(
            trace_id=t.id, dataset_id=t.dataset_id, behaviour=t.request.get("behaviour_name", ""),
            error=error, link=f"/v1/traces/{t.id}"))


FailureEvent = Callable[[Session, Settings, dict[str, Any], str], None]
# The job kinds whose permanent failure is an event; a chunk's failure is its audit's, a failed
# delivery is logged on the delivery, an organism sweep's is read from its job.
ON_FAILURE: dict[str, FailureEvent] = {  # keyed by JobKind: a StrEnum key is its value
    JobKind.audit_run: _audit_failed, JobKind.dataset_ingest: _dataset_failed,
    JobKind.search_run: _search_failed, JobKind.trace_run: _trace_failed,
}


def job_failed(session: Session, settings: Settings, kind: str, payload: dict[str, Any],
               error: str) -> None:
    """Called by the runner in the transaction that fails a job for good."""
    emit = ON_FAILURE.get(kind)
    if emit is not None:
        emit(session, settings, payload, error)
