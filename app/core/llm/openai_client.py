"""OpenAI-compatible chat client over httpx: bounded concurrency; budgets and jittered retries
as every client keeps them (retries.py)."""

from __future__ import annotations

import asyncio
import json
import ssl
from typing import Any

import httpx

from app.core.egress import EgressPolicy
from app.core.egress_transport import egress_transport
from app.core.llm.base import Budget, ChatResponse, Message, Usage
from app.core.llm.errors import LLMError, network_error
from app.core.llm.retries import Retrier

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
SAMPLING_KEYS = ("temperature", "top_p", "max_tokens", "seed", "stop", "n", "presence_penalty",
                 "frequency_penalty", "logit_bias")


class OpenAIChatClient:
    """Talks to /v1/chat/completions of vLLM, OpenAI, llama.cpp or the organism server."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        max_concurrency: int = 8,
        timeout: float = 120.0,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        budget: Budget | None = None,
        default_params: dict[str, Any] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        egress: EgressPolicy | None = None,
        proxy: str | None = None,
    ) -> None:
        """With `egress`, every request is checked and sent to the address that was checked (or,
        with `proxy`, through it: egress_transport.py)."""
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.budget = budget or Budget()
        self.default_params = dict(default_params or {})
        self.usage = Usage()
        self._secrets = tuple(x for x in (api_key,) if x)
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        lanes: list[httpx.AsyncBaseTransport]
        if transport is not None:
            lanes = [transport] * max_concurrency  # a caller's transport is shared by every lane
        else:
            # One transport per lane (a lane sends one request at a time), so no lane waits on
            # another's connection: httpx's own, pinned to the checked address or proxied.
            tls = _tls_context(self.chat_url)  # built once: loading the CA bundle is slow
            checked: dict[tuple[str, str, int], tuple[float, Any]] = {}  # one egress check for all
            lanes = [egress_transport(egress, field="base_url", verify=tls, proxy=proxy, cache=checked)
                     for _ in range(max_concurrency)]
        # Requests go to the transport itself: httpx.AsyncClient's layers (auth and redirect
        # flows, cookies, URL merging) cost ~25% of the client's CPU per request and we use none
        # of them (redirects are refused, the key is one header). A lane is held for a whole
        # call, retries included, so it also bounds concurrency; last in, first out keeps the
        # warmest connections busy.
        self._lanes: asyncio.LifoQueue[httpx.AsyncBaseTransport] = asyncio.LifoQueue()
        for lane in lanes:
            self._lanes.put_nowait(lane)
        self._transports = list(dict.fromkeys(lanes))
        self._timeout = httpx.Timeout(timeout, connect=min(timeout, 10.0)).as_dict()
        self._url = httpx.URL(self.chat_url)
        self._retrier = Retrier(self.usage, self.budget, max_retries=max_retries, backoff_base=backoff_base,
                                backoff_max=backoff_max)

    @property
    def chat_url(self) -> str:
        root = self.base_url if self.base_url.endswith("/v1") else f"{self.base_url}/v1"
        return f"{root}/chat/completions"

    async def chat(self, messages: list[Message], **params: Any) -> ChatResponse:
        # `model`: another model behind the same endpoint (a gateway's; a second judge)
        body: dict[str, Any] = {"model": params.pop("model", None) or self.model, "messages": messages}
        merged = {**self.default_params, **params}
        body.update({k: v for k, v in merged.items() if k in SAMPLING_KEYS and v is not None})
        lane = await self._lanes.get()
        try:
            return await self._retrier.call(lambda: self._send(lane, body))
        finally:
            self._lanes.put_nowait(lane)

    async def _post(self, lane: httpx.AsyncBaseTransport, body: dict[str, Any]) -> httpx.Response:
        request = httpx.Request("POST", self._url, headers=self._headers, json=body,
                                extensions={"timeout": self._timeout})
        r = await lane.handle_async_request(request)
        try:
            await r.aread()
        finally:
            await r.aclose()
        return r

    async def _send(self, lane: httpx.AsyncBaseTransport, body: dict[str, Any]) -> ChatResponse:
        try:
            r = await self._post(lane, body)
        except httpx.TimeoutException as exc:
            raise LLMError(f"timeout talking to {self.base_url}: {type(exc).__name__}",
                           retryable=True) from exc
        except httpx.TransportError as exc:
            raise LLMError(f"cannot reach {self.base_url}: {network_error(exc)}", retryable=True) from exc
        if 300 <= r.status_code < 400:
            where = scrub(r.headers.get("location", "?"), self._secrets)[:200]
            raise LLMError(f"target answered HTTP {r.status_code} (redirect to {where}); redirects "
                           "are not followed: use the final URL as base_url", status=r.status_code)
        if r.status_code >= 400:
            raise LLMError(
                f"target answered HTTP {r.status_code}: {scrub(error_message(r), self._secrets)}",
                status=r.status_code,
                retryable=r.status_code in RETRYABLE_STATUS,
                retry_after=retry_after_of(r),
            )
        try:
            data = r.json()
            choice = data["choices"][0]
            text = choice["message"]["content"] or ""
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise LLMError(f"malformed response from target: {scrub(r.text[:200], self._secrets)!r}",
                           status=r.status_code, retryable=True) from exc
        usage = data.get("usage") or {}
        return ChatResponse(
            text=text,
            finish_reason=choice.get("finish_reason"),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            model=data.get("model"),
        )

    async def aclose(self) -> None:
        for transport in self._transports:
            await transport.aclose()


def _tls_context(url: str) -> ssl.SSLContext:
    """httpx's verifying context for https; plain http never uses one, so skip loading CAs."""
    if url.startswith("https:"):
        return httpx.create_ssl_context()
    return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)


MAX_ERROR_CHARS = 300


def scrub(text: str, secrets: tuple[str, ...]) -> str:
    """Remove what we sent that the far end may echo back (the bearer token, any of its halves)."""
    for secret in secrets:
        for piece in {secret, secret[: len(secret) // 2], secret[len(secret) // 2:]}:
            if len(piece) >= 6:
                text = text.replace(piece, "***")
    return text


def error_message(r: httpx.Response) -> str:
    """The target's own message, truncated: enough to act on, never a page of its body."""
    try:
        data = r.json()
        err = data.get("error", data) if isinstance(data, dict) else data
        msg = err.get("message") if isinstance(err, dict) else err
        text = str(msg)
    except (ValueError, json.JSONDecodeError):
        text = r.text
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "…"


def retry_after_of(r: httpx.Response) -> float | None:
    value = r.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
