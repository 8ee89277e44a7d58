"""A target or auditor behind the Anthropic Messages API, through the official `anthropic` SDK.

The SDK's own retries are off (surfturf's schedule, budget and usage apply: retries.py); its
HTTP client sends through the egress-pinned transport, so every request goes to the address the
operator's policy approved. A chat call maps onto the Messages API: system messages become
`system`, `max_tokens` is required there (a default is sent), `stop` becomes `stop_sequences`;
OpenAI-only parameters (seed, n, penalties) are not sent."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from app.core.egress import EgressDenied, EgressPolicy
from app.core.egress_transport import egress_transport
from app.core.llm.base import Budget, ChatResponse, Message, Usage
from app.core.llm.errors import LLMError, network_error
from app.core.llm.openai_client import RETRYABLE_STATUS, error_message, retry_after_of, scrub
from app.core.llm.retries import Retrier

DEFAULT_MAX_TOKENS = 1024
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "refusal": "content_filter"}


class AnthropicChatClient:
    def __init__(self, base_url: str, model: str, *, api_key: str | None = None, max_concurrency: int = 8,
                 timeout: float = 120.0, max_retries: int = 4, backoff_base: float = 0.5,
                 backoff_max: float = 30.0, budget: Budget | None = None,
                 default_params: dict[str, Any] | None = None, egress: EgressPolicy | None = None,
                 proxy: str | None = None, **_: Any) -> None:
        import anthropic

        self.model = model
        self.base_url = base_url.rstrip("/").removesuffix("/v1")  # the SDK adds /v1/messages
        self.usage = Usage()
        self.budget = budget or Budget()
        self.default_params = dict(default_params or {})
        self._secrets = tuple(x for x in (api_key,) if x)
        transport = egress_transport(egress, field="base_url", proxy=proxy,
                                     limits=httpx.Limits(max_connections=max_concurrency))
        self._http = httpx.AsyncClient(transport=transport, follow_redirects=False,
                                       timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))
        # a key is required by the SDK's constructor; a server that wants none ignores it
        self._sdk = anthropic.AsyncAnthropic(api_key=api_key or "none", base_url=self.base_url, max_retries=0,
                                             http_client=self._http, timeout=timeout)
        self._errors = anthropic
        self._slots = asyncio.Semaphore(max_concurrency)
        self._retrier = Retrier(self.usage, self.budget, max_retries=max_retries, backoff_base=backoff_base,
                                backoff_max=backoff_max)

    async def chat(self, messages: list[Message], **params: Any) -> ChatResponse:
        merged = {**self.default_params, **params}
        system = "\n\n".join(m["content"] for m in messages if m.get("role") in ("system", "developer"))
        turns = [{"role": m["role"], "content": m["content"]} for m in messages
                 if m.get("role") in ("user", "assistant")]
        kwargs: dict[str, Any] = {"model": merged.get("model") or self.model, "messages": turns,
                                  "max_tokens": int(merged.get("max_tokens") or DEFAULT_MAX_TOKENS)}
        if system:
            kwargs["system"] = system
        for ours, theirs in (("temperature", "temperature"), ("top_p", "top_p")):
            if merged.get(ours) is not None:
                kwargs[theirs] = merged[ours]
        stop = merged.get("stop")
        if stop:
            kwargs["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
        async with self._slots:
            return await self._retrier.call(lambda: self._send(kwargs))

    async def _send(self, kwargs: dict[str, Any]) -> ChatResponse:
        e = self._errors
        try:
            msg = await self._sdk.messages.create(**kwargs)
        except e.APITimeoutError as exc:
            raise LLMError(f"timeout talking to {self.base_url}", retryable=True) from exc
        except e.APIConnectionError as exc:
            denied = _cause(exc, EgressDenied)
            if denied is not None:  # refused before connecting, as the OpenAI client reports it
                raise denied from None
            said = scrub(network_error(exc.__cause__ or exc), self._secrets)
            raise LLMError(f"cannot reach {self.base_url}: {said}", retryable=True) from exc
        except e.APIStatusError as exc:
            status, said = exc.status_code, scrub(error_message(exc.response), self._secrets)
            raise LLMError(f"target answered HTTP {status}: {said}", status=status,
                           retryable=status in RETRYABLE_STATUS or status == 529,  # 529: overloaded
                           retry_after=retry_after_of(exc.response)) from exc
        except e.APIResponseValidationError as exc:
            raise LLMError(f"malformed response from target: {scrub(str(exc), self._secrets)[:200]}",
                           retryable=True) from exc
        if not hasattr(msg, "content"):  # the SDK hands back the body when it is not JSON
            raise LLMError(f"malformed response from target: {scrub(str(msg)[:200], self._secrets)!r}",
                           retryable=True)
        text = "".join(getattr(b, "text", "") for b in msg.content if getattr(b, "type", "") == "text")
        return ChatResponse(text=text, finish_reason=FINISH.get(msg.stop_reason or "", msg.stop_reason),
                            prompt_tokens=msg.usage.input_tokens, completion_tokens=msg.usage.output_tokens,
                            model=msg.model)

    async def aclose(self) -> None:
        await self._http.aclose()


def _cause(exc: BaseException, kind: type[BaseException]) -> BaseException | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, kind):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None
