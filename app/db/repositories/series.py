"""Series of audits: one row each, its audits by id in checkpoint order."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from app.db.tables import Series


def add(session: Session, **fields: Any) -> Series:
    row = Series(**fields)
    session.add(row)
    session.flush()
    return row


def get(session: Session, series_id: str) -> Series | None:
    return session.get(Series, series_id)
