"""The auditor model (rewrites, rubric judges): configured once, made only where it is needed."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from app.config import Settings
from app.core.llm import ChatClient, local_engines

# (done, total, message): how every long job reports where it is
ProgressFn = Callable[[int, int | None, str | None], Awaitable[None]]


def configured(settings: Settings) -> bool:
    if settings.auditor_engine != "http":
        return bool(settings.auditor_model)
    return bool(settings.auditor_url and settings.auditor_model)


def auditor_for(settings: Settings, needed: bool) -> ChatClient | None:
    """`needed` is the spec's or behaviour's `needs_auditor()`: nothing is built or loaded
    for work that never calls an auditor."""
    if not needed or not configured(settings):
        return None
    if settings.auditor_engine != "http":
        return local_engines.shared_engine(settings.auditor_engine, settings.auditor_model or "",
                                           settings.data_dir)
    return http_client(settings, settings.auditor_url or "", settings.auditor_model or "")


def http_client(settings: Settings, url: str, model: str, **kw: Any) -> ChatClient:
    """An auditor over HTTP: the Messages API for `anthropic:MODEL` (SURF's model string), else
    the OpenAI chat protocol; through the environment's proxy when SURFTURF_TARGET_PROXY allows
    it. httpx and the SDK load only when a client is made."""
    from app.core.egress_transport import proxy_for
    from app.core.llm.anthropic_client import AnthropicChatClient
    from app.core.llm.model_ref import split_protocol
    from app.core.llm.openai_client import OpenAIChatClient

    protocol, name = split_protocol(model)
    kind = AnthropicChatClient if protocol == "anthropic" else OpenAIChatClient
    proxy = proxy_for(url) if settings.target_proxy else None
    client: ChatClient = kind(url, name, api_key=settings.auditor_api_key,
                              timeout=settings.target_timeout_seconds, proxy=proxy, **kw)
    return client


def query_writer_for(settings: Settings, needed: bool) -> ChatClient | None:
    """A search's query model: SURFTURF_QUERY_MODEL where one is set, else the auditor."""
    if not needed or not settings.query_model:
        return auditor_for(settings, needed)
    return http_client(settings, settings.query_url or settings.auditor_url or "", settings.query_model)


async def check(settings: Settings, needed: bool, *, query_model: bool = False) -> str | None:
    """One real call to an HTTP auditor (and a separate query model, when asked) before a job that
    needs it starts: its own error, or None (in-process engines load with the job and say their
    own failures)."""
    if query_model and needed and settings.query_model:
        problem = await _call(settings.query_url or settings.auditor_url or "", settings.query_model,
                              settings)
        if problem:
            return f"query model {settings.query_model}: {problem}"
    if not needed or not configured(settings) or settings.auditor_engine != "http":
        return None
    return await _call(settings.auditor_url or "", settings.auditor_model or "", settings)


async def _call(url: str, model: str, settings: Settings) -> str | None:
    from app.core.llm.errors import LLMError

    client = http_client(settings, url, model, max_retries=0)
    try:
        await client.chat([{"role": "user", "content": "Reply with the single word OK."}], max_tokens=8,
                          temperature=0.0)
        return None
    except LLMError as err:
        return err.message
    finally:
        await client.aclose()


async def close_auditor(settings: Settings, auditor: ChatClient | None) -> None:
    """An HTTP auditor's connections close with the job; in-process engines stay loaded."""
    from app.core.llm.anthropic_client import AnthropicChatClient
    from app.core.llm.openai_client import OpenAIChatClient

    if isinstance(auditor, OpenAIChatClient | AnthropicChatClient):
        await auditor.aclose()
