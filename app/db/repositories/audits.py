"""Audits and their samples; sample writes are idempotent on (audit, cell, prompt, sample)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Row, func, select
from sqlalchemy.orm import Session, joinedload

from app.db.engine import upsert_insert
from app.db.tables import Audit, AuditResult


def add(session: Session, **fields: Any) -> Audit:
    row = Audit(**fields)
    session.add(row)
    session.flush()
    return row


def get(session: Session, audit_id: str) -> Audit | None:
    return session.get(Audit, audit_id)


def list_audits(session: Session, *, owner: str | None, limit: int, offset: int) -> list[Audit]:
    stmt = (select(Audit).options(joinedload(Audit.job))  # the job in the same query
            .order_by(Audit.created_at.desc()).limit(limit).offset(offset))
    if owner is not None:
        stmt = stmt.where(Audit.owner == owner)
    return list(session.scalars(stmt))


def latest_with_fingerprint(session: Session, fingerprint: str, owner: str | None) -> Audit | None:
    stmt = (select(Audit).where(Audit.fingerprint == fingerprint, Audit.owner == owner)
            .order_by(Audit.created_at.desc()).limit(1))
    return session.scalars(stmt).first()


def count_results(session: Session, audit_id: str) -> int:
    """Answered samples (an errored one is retried on resume)."""
    stmt = select(func.count()).select_from(AuditResult).where(AuditResult.audit_id == audit_id,
                                                                AuditResult.error.is_(None))
    return int(session.scalar(stmt) or 0)


def done_keys(session: Session, audit_id: str) -> set[tuple[str, int, int]]:
    """Items with a response; errored items are retried on resume."""
    stmt = select(AuditResult.cell_key, AuditResult.prompt_index, AuditResult.sample_index).where(
        AuditResult.audit_id == audit_id, AuditResult.error.is_(None))
    return {(c, p, s) for c, p, s in session.execute(stmt)}


def save_results(session: Session, audit_id: str, rows: list[dict[str, Any]]) -> None:
    """Insert; on a key clash only an earlier error is overwritten, so each sample lands once."""
    if not rows:
        return
    insert = upsert_insert(session)
    stmt = insert(AuditResult)  # executemany with one cached statement, not a fresh VALUES list
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["audit_id", "cell_key", "prompt_index", "sample_index"],
        set_={"messages": excluded.messages, "response": excluded.response, "scores": excluded.scores,
              "error": excluded.error, "latency_ms": excluded.latency_ms, "seed": excluded.seed},
        where=AuditResult.error.is_not(None),
    )
    session.execute(stmt, [{**r, "audit_id": audit_id} for r in rows])


def first_error(session: Session, audit_id: str) -> str | None:
    stmt = (select(AuditResult.error).where(AuditResult.audit_id == audit_id, AuditResult.error.is_not(None))
            .order_by(AuditResult.id).limit(1))
    return session.scalar(stmt)


SAMPLE_COLUMNS = (AuditResult.cell_key, AuditResult.prompt_index, AuditResult.sample_index,
                  AuditResult.messages, AuditResult.response, AuditResult.scores, AuditResult.error)


def iter_results(session: Session, audit_id: str, chunk: int = 5000) -> Iterator[Row[Any]]:
    """The columns a sample needs, as plain rows: building ORM objects tripled the read for rows
    nobody edits."""
    stmt = (select(*SAMPLE_COLUMNS).where(AuditResult.audit_id == audit_id)
            .order_by(AuditResult.id).execution_options(yield_per=chunk))
    yield from session.execute(stmt)
