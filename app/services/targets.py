"""Targets: validate egress, keep the API key write-only, build clients, run a live check."""

from __future__ import annotations

import os
import time
from typing import Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.core.egress import EgressPolicy
from app.core.llm import LLMError, OpenAIChatClient
from app.db.repositories import targets as repo
from app.db.tables import Target
from app.errors import Conflict, InvalidInput, NotFound
from app.services import secrets


def create(session: Session, settings: Settings, data: dict[str, Any]) -> Target:
    EgressPolicy.parse(settings.target_egress).check_url(data["base_url"], field="base_url")
    api_key = data.pop("api_key", None)
    if api_key and data.get("api_key_env"):
        raise InvalidInput("give api_key or api_key_env, not both", field="api_key")
    if api_key:
        data["api_key_encrypted"] = secrets.encrypt(settings.secret_key, api_key)
    return repo.add(session, **data)


def get(session: Session, target_id: str) -> Target:
    row = repo.get(session, target_id)
    if row is None:
        raise NotFound(f"target {target_id} not found")
    return row


def delete(session: Session, target_id: str) -> None:
    row = get(session, target_id)
    if repo.has_audits(session, target_id):
        raise Conflict(f"target {target_id} has audits; delete them first")
    repo.delete(session, row)


def resolve_api_key(settings: Settings, row: Target) -> str | None:
    if row.api_key_encrypted:
        return secrets.decrypt(settings.secret_key, row.api_key_encrypted)
    if row.api_key_env:
        return os.environ.get(row.api_key_env)
    return None


def make_client(settings: Settings, row: Target, **overrides: Any) -> OpenAIChatClient:
    """Re-checks egress at call time: DNS may have changed since the target was stored."""
    EgressPolicy.parse(settings.target_egress).check_url(row.base_url, field="base_url")
    return OpenAIChatClient(
        row.base_url,
        row.model,
        api_key=resolve_api_key(settings, row),
        max_concurrency=min(row.max_concurrency, settings.target_max_concurrency),
        timeout=settings.target_timeout_seconds,
        default_params=row.default_params,
        **overrides,
    )


async def check(settings: Settings, row: Target) -> dict[str, Any]:
    """One real chat call; reports latency or the target's own error message."""
    client = make_client(settings, row, max_retries=0)
    started = time.perf_counter()
    try:
        resp = await client.chat(
            [{"role": "user", "content": "Reply with the single word OK."}], max_tokens=8,
            temperature=0.0,
        )
        return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                "model": resp.model or row.model, "response": resp.text, "error": None}
    except LLMError as err:
        return {"ok": False, "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                "model": row.model, "response": None, "error": err.message, "status": err.status}
    finally:
        await client.aclose()
