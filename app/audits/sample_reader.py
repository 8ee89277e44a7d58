"""An audit's stored samples as the analysis reads them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from app.core.surf.samples import Sample
from app.core.surf.spec import parse_cell_key
from app.db.engine import make_engine, make_session_factory, transaction
from app.db.repositories import audits as repo


def to_sample(r: Row[Any]) -> Sample:
    return Sample(parse_cell_key(r.cell_key), r.prompt_index, r.sample_index, r.messages, r.response,
                  r.scores, r.error)


def load(session: Session, audit_id: str) -> list[Sample]:
    return [to_sample(r) for r in repo.iter_results(session, audit_id)]


def read(url: str, audit_id: str) -> list[Sample]:
    """The audit's stored samples in the order they were stored, read over a connection of the
    caller's own: the analysis process opens the database itself rather than have the worker
    pickle every sample through its pipe."""
    engine = make_engine(url)
    try:
        with transaction(make_session_factory(engine)) as s:
            return load(s, audit_id)
    finally:
        engine.dispose()
