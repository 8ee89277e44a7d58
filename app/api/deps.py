"""Request dependencies: settings, a transaction per request, API-key auth."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from app.config import Settings
from app.db.engine import transaction
from app.services import api_keys
from app.services.owners import Principal

bearer = HTTPBearer(auto_error=False, description="API key from `surfturf keys create`.")


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    with transaction(request.app.state.session_factory) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def _authenticate(request: Request, creds: HTTPAuthorizationCredentials | None, scope: str
                  ) -> Principal:
    # A separate short transaction, so a failing request still records key use.
    with transaction(request.app.state.session_factory) as session:
        row = api_keys.authenticate(session, creds.credentials if creds else None, scope=scope)
        return api_keys.principal(row)


def require_read(request: Request, creds: Credentials) -> Principal:
    return _authenticate(request, creds, "read")


def require_write(request: Request, creds: Credentials) -> Principal:
    return _authenticate(request, creds, "write")


Reader = Annotated[Principal, Depends(require_read)]
Writer = Annotated[Principal, Depends(require_write)]
