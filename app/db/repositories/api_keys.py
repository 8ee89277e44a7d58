"""API keys: only a SHA-256 of the key is stored."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.tables import ApiKey
from app.db.types import utcnow


def add(session: Session, *, name: str, prefix: str, key_hash: str, scopes: str, owner: str) -> ApiKey:
    row = ApiKey(name=name, prefix=prefix, key_hash=key_hash, scopes=scopes, owner=owner)
    session.add(row)
    session.flush()
    return row


def by_hash(session: Session, key_hash: str) -> ApiKey | None:
    return session.scalar(select(ApiKey).where(ApiKey.key_hash == key_hash))


def get(session: Session, key_id: str) -> ApiKey | None:
    return session.get(ApiKey, key_id)


def list_keys(session: Session) -> list[ApiKey]:
    return list(session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def touch(session: Session, row: ApiKey) -> None:
    row.last_used_at = utcnow()


def revoke(session: Session, key_id: str) -> ApiKey | None:
    row = session.get(ApiKey, key_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
    return row
