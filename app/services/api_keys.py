"""Create, verify and revoke API keys; the plain key exists only in create's return value."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy.orm import Session

from app.db.repositories import api_keys as repo
from app.db.tables import ApiKey
from app.errors import Forbidden, Unauthorized

KEY_PREFIX = "st_"
SCOPES = ("read", "write")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(session: Session, name: str, scopes: str = "read,write") -> tuple[ApiKey, str]:
    wanted = [s.strip() for s in scopes.split(",") if s.strip()]
    bad = [s for s in wanted if s not in SCOPES]
    if bad or not wanted:
        raise ValueError(f"unknown scopes {bad}; choose from {SCOPES}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = repo.add(session, name=name, prefix=key[:10], key_hash=hash_key(key), scopes=",".join(wanted))
    return row, key


def authenticate(session: Session, key: str | None, *, scope: str) -> ApiKey:
    if not key:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    row = repo.by_hash(session, hash_key(key))
    if row is None:
        raise Unauthorized("invalid API key")
    if row.revoked_at is not None:
        raise Forbidden("API key has been revoked")
    if scope not in row.scopes.split(","):
        raise Forbidden(f"API key lacks the '{scope}' scope")
    repo.touch(session, row)
    return row
