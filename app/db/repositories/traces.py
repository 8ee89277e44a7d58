"""Traces: a request against a dataset and, once its job ran, the result."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.db.tables import Trace


def add(session: Session, **fields: Any) -> Trace:
    row = Trace(**fields)
    session.add(row)
    session.flush()
    return row


def get(session: Session, trace_id: str) -> Trace | None:
    return session.get(Trace, trace_id)


def list_traces(session: Session, *, owner: str | None, limit: int, offset: int) -> list[Trace]:
    stmt = (select(Trace).options(joinedload(Trace.job))  # the job in the same query
            .order_by(Trace.created_at.desc()).limit(limit).offset(offset))
    if owner is not None:
        stmt = stmt.where(Trace.owner == owner)
    return list(session.scalars(stmt))
