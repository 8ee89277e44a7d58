"""Searches and their candidates; candidate writes are idempotent on (search, run, iteration, idx)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from app.db.engine import upsert_insert
from app.db.tables import Search, SearchCandidate


def add(session: Session, **fields: Any) -> Search:
    row = Search(**fields)
    session.add(row)
    session.flush()
    return row


def get(session: Session, search_id: str) -> Search | None:
    return session.get(Search, search_id)


def list_searches(session: Session, *, owner: str | None, limit: int, offset: int) -> list[Search]:
    stmt = (select(Search).options(joinedload(Search.job))  # the job in the same query
            .order_by(Search.created_at.desc()).limit(limit).offset(offset))
    if owner is not None:
        stmt = stmt.where(Search.owner == owner)
    return list(session.scalars(stmt))


def save_candidate(session: Session, search_id: str, row: dict[str, Any]) -> None:
    """A candidate lands once: a second write of the same key (a retried attempt) is ignored."""
    insert = upsert_insert(session)
    stmt = insert(SearchCandidate).values(search_id=search_id, **row).on_conflict_do_nothing(
        index_elements=["search_id", "run", "iteration", "idx"])
    session.execute(stmt)


def candidates(session: Session, search_id: str) -> list[SearchCandidate]:
    stmt = (select(SearchCandidate).where(SearchCandidate.search_id == search_id)
            .order_by(SearchCandidate.run, SearchCandidate.iteration, SearchCandidate.idx))
    return list(session.scalars(stmt))
