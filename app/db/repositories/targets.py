"""Targets: the models under audit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from app.db.tables import Audit, Target


def add(session: Session, **fields: Any) -> Target:
    row = Target(**fields)
    session.add(row)
    session.flush()
    return row


def get(session: Session, target_id: str) -> Target | None:
    return session.get(Target, target_id)


def list_targets(session: Session, *, owner: str | None, limit: int, offset: int) -> list[Target]:
    stmt = select(Target).order_by(Target.created_at).limit(limit).offset(offset)
    if owner is not None:
        stmt = stmt.where(Target.owner == owner)
    return list(session.scalars(stmt))


def find(session: Session, *, owner: str | None, base_url: str, model: str,
         api_key_env: str | None, protocol: str = "openai") -> Target | None:
    """The oldest target with this address, model, protocol and key reference (no stored key)."""
    stmt = (select(Target).where(Target.owner == owner, Target.base_url == base_url, Target.model == model,
                                 Target.protocol == protocol, Target.api_key_encrypted.is_(None))
            .order_by(Target.created_at).limit(1))
    stmt = stmt.where(Target.api_key_env.is_(None) if api_key_env is None else
                      Target.api_key_env == api_key_env)
    return session.scalars(stmt).first()


def has_audits(session: Session, target_id: str) -> bool:
    return bool(session.scalar(select(exists().where(Audit.target_id == target_id))))


def delete(session: Session, row: Target) -> None:
    session.delete(row)
    session.flush()
