"""Targets: validate egress, keep the API key write-only, build clients, run a live check."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from app.config import Settings
from app.core.egress import EgressPolicy
from app.core.llm import LLMError
from app.core.llm.model_ref import split_protocol
from app.db.repositories import targets as repo
from app.db.tables import Target
from app.errors import Conflict, EgressDenied, InvalidInput
from app.services import secrets
from app.services.owners import Principal, visible

if TYPE_CHECKING:
    from app.core.llm.base import ChatClient


def policy(settings: Settings) -> EgressPolicy:
    return EgressPolicy.parse(settings.resolved_target_egress)


def check_key_env(settings: Settings, name: str | None) -> None:
    """Only env vars the operator listed: any other name could mail a server secret to the caller."""
    if name and name not in settings.allowed_key_envs:
        allowed = ", ".join(sorted(settings.allowed_key_envs)) or "none are allowed"
        raise InvalidInput(f"api_key_env {name!r} is not in the operator's allow-list "
                           f"(SURFTURF_TARGET_KEY_ENVS: {allowed}); send api_key instead",
                           field="api_key_env")


def create(session: Session, settings: Settings, data: dict[str, Any], owner: str) -> Target:
    policy(settings).check_url(data["base_url"], field="base_url")
    check_key_env(settings, data.get("api_key_env"))
    api_key = data.pop("api_key", None)
    if api_key and data.get("api_key_env"):
        raise InvalidInput("give api_key or api_key_env, not both", field="api_key")
    if api_key:
        data["api_key_encrypted"] = secrets.encrypt(settings.secret_key, api_key)
    return repo.add(session, **data, owner=owner)


def named(session: Session, settings: Settings, *, base_url: str, model: str, api_key_env: str | None,
          owner: str) -> Target:
    """The target a command line names: one row per (address, protocol, model, key reference) and
    owner, so repeated runs do not pile up duplicates. `anthropic:MODEL` (SURF's model string)
    names a Messages-API target."""
    protocol, model = split_protocol(model)
    row = repo.find(session, owner=owner, base_url=base_url, model=model, api_key_env=api_key_env,
                    protocol=protocol)
    if row is not None:
        policy(settings).check_url(base_url, field="base_url")
        return row
    return create(session, settings, {"name": f"{model} @ {base_url}", "base_url": base_url, "model": model,
                                      "protocol": protocol, "api_key_env": api_key_env}, owner)


def get(session: Session, target_id: str, who: Principal | None = None) -> Target:
    return visible(repo.get(session, target_id), who, "target", target_id)


def list_targets(session: Session, who: Principal, *, limit: int, offset: int) -> list[Target]:
    return repo.list_targets(session, owner=who.scope, limit=limit, offset=offset)


def delete(session: Session, target_id: str, who: Principal) -> None:
    row = get(session, target_id, who)
    if repo.has_audits(session, target_id):
        raise Conflict(f"target {target_id} has audits; delete them first")
    repo.delete(session, row)


def resolve_api_key(settings: Settings, row: Target) -> str | None:
    if row.api_key_encrypted:
        return secrets.decrypt(settings.secret_key, row.api_key_encrypted)
    if row.api_key_env:
        check_key_env(settings, row.api_key_env)  # the allow-list may have shrunk since
        return os.environ.get(row.api_key_env)
    return None


def make_client(settings: Settings, row: Target, *, concurrency: int | None = None,
                **overrides: Any) -> ChatClient:
    """Every request is checked against the egress policy and sent to the checked address."""
    from app.core.egress_transport import proxy_for
    from app.core.llm.anthropic_client import AnthropicChatClient
    from app.core.llm.openai_client import OpenAIChatClient  # httpx: loaded when a client is made

    wanted = concurrency or row.max_concurrency
    kind = AnthropicChatClient if row.protocol == "anthropic" else OpenAIChatClient
    return kind(
        row.base_url,
        row.model,
        api_key=resolve_api_key(settings, row),
        max_concurrency=min(wanted, settings.target_max_concurrency),
        timeout=settings.target_timeout_seconds,
        default_params=row.default_params,
        egress=policy(settings),
        proxy=proxy_for(row.base_url) if settings.target_proxy else None,
        **overrides,
    )


async def check(settings: Settings, row: Target) -> dict[str, Any]:
    """One real chat call; reports latency or the target's own (truncated, scrubbed) message."""
    client = make_client(settings, row, max_retries=0)
    started = time.perf_counter()
    try:
        resp = await client.chat(
            [{"role": "user", "content": "Reply with the single word OK."}], max_tokens=8,
            temperature=0.0,
        )
        return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                "model": resp.model or row.model, "response": resp.text[:200], "error": None}
    except (LLMError, EgressDenied) as err:
        return {"ok": False, "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                "model": row.model, "response": None, "error": err.message,
                "status": getattr(err, "status", None)}
    finally:
        await client.aclose()
