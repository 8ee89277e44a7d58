"""Create, verify and revoke API keys; the plain key exists only in create's return value."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy.orm import Session

from app.db.repositories import api_keys as repo
from app.db.tables import ApiKey
from app.errors import Forbidden, Unauthorized
from app.services.owners import Principal

KEY_PREFIX = "st_"
SCOPES = ("read", "write", "admin")


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create(session: Session, name: str, scopes: str = "read,write",
           owner: str | None = None) -> tuple[ApiKey, str]:
    """`owner` (default: the key's name) owns what the key creates; `admin` sees every owner's."""
    wanted = [s.strip() for s in scopes.split(",") if s.strip()]
    bad = [s for s in wanted if s not in SCOPES]
    if bad or not wanted:
        raise ValueError(f"unknown scopes {bad}; choose from {', '.join(SCOPES)}")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = repo.add(session, name=name, prefix=key[:10], key_hash=hash_key(key), scopes=",".join(wanted),
                   owner=owner or name)
    return row, key


def list_keys(session: Session) -> list[ApiKey]:
    return repo.list_keys(session)


def revoke(session: Session, key_id: str) -> ApiKey | None:
    return repo.revoke(session, key_id)


def end_sessions(session: Session, key_id: str) -> None:
    """Logout: the web sessions of this key (every browser) stop working."""
    row = repo.get(session, key_id)
    if row is not None:
        row.session_version += 1


def principal(row: ApiKey) -> Principal:
    return Principal(row.owner or row.name, admin="admin" in row.scopes.split(","))


def authenticate(session: Session, key: str | None, *, scope: str) -> ApiKey:
    if not key:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    return check(session, repo.by_hash(session, hash_key(key)), scope=scope)


def by_id(session: Session, key_id: str, *, scope: str) -> ApiKey:
    """The key behind a web session: still valid, still granting `scope`."""
    return check(session, repo.get(session, key_id), scope=scope)


def check(session: Session, row: ApiKey | None, *, scope: str) -> ApiKey:
    if row is None:
        raise Unauthorized("invalid API key")
    if row.revoked_at is not None:
        raise Forbidden("API key has been revoked")
    granted = row.scopes.split(",")
    if scope not in granted and "admin" not in granted:
        raise Forbidden(f"API key lacks the '{scope}' scope")
    repo.touch(session, row)
    return row
