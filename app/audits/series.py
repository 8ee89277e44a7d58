"""Series use cases: one spec's audits on N checkpoints (ordinary audits, linked to the series),
and series.json once every one has finished (app/core/surf/series.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.audits import sample_reader
from app.audits import use_cases as audits
from app.config import Settings
from app.core.surf.spec import ProbeSpec
from app.db.repositories import series as repo
from app.db.tables import Series
from app.db.types import utcnow
from app.errors import InvalidInput
from app.services import jobs
from app.services import targets as targets_service
from app.services.owners import Principal, visible


def create(session: Session, settings: Settings, *, spec: dict[str, Any],
           checkpoints: list[dict[str, Any]], who: Principal) -> Series:
    """One audit per checkpoint, same spec and seed; each knows its neighbours, so that when one
    finishes it is compared with the previous checkpoint (audit.regressed)."""
    rows = [targets_service.get(session, c["target_id"], who) for c in checkpoints]
    labels = [c.get("label") or t.model for c, t in zip(checkpoints, rows, strict=True)]
    if len(set(labels)) != len(labels):
        raise InvalidInput(f"targets: labels must differ (got {labels}); give each checkpoint a label",
                           field="targets")
    made = [audits.create(session, settings, target_id=t.id, spec=spec, who=who) for t in rows]
    series = repo.add(session, name=made[0].name, owner=who.owner, labels=labels,
                      audit_ids=[a.id for a in made])
    for i, a in enumerate(made):
        a.config = {**(a.config or {}), "series_id": series.id, "series_label": labels[i],
                    **({"series_previous": made[i - 1].id} if i else {}),
                    **({"series_next": made[i + 1].id} if i + 1 < len(made) else {})}
    return series


def get(session: Session, series_id: str, who: Principal | None = None) -> Series:
    return visible(repo.get(session, series_id), who, "series", series_id)


def read(session: Session, series_id: str, who: Principal | None) -> dict[str, Any]:
    """The series with its audits' statuses, and series.json once every audit has finished
    (computed once, then stored)."""
    row = get(session, series_id, who)
    members = [audits.get(session, a) for a in row.audit_ids]
    statuses = []
    for a in members:
        job = jobs.job_of(session, a)
        statuses.append("completed" if a.report is not None else job.status if job else "queued")
    if row.result is None and all(a.report is not None for a in members):
        row.result = result_of(session, row)
        row.finished_at = utcnow()
    failed = any(s in ("failed", "cancelled") for s in statuses)
    status = "completed" if row.result is not None else "failed" if failed else "running"
    return {"id": row.id, "name": row.name, "status": status, "created_at": row.created_at,
            "finished_at": row.finished_at, "result": row.result,
            "audits": [{"label": label, "audit_id": a.id, "status": s}
                       for label, a, s in zip(row.labels, members, statuses, strict=True)]}


def result_of(session: Session, row: Series) -> dict[str, Any]:
    from app.core.surf.series import series

    spec = ProbeSpec.model_validate(audits.get(session, row.audit_ids[0]).spec)
    samples = [sample_reader.load(session, a) for a in row.audit_ids]
    return series(spec, list(row.labels), samples, list(row.audit_ids)).model_dump(mode="json")
