"""The OpenAI-compatible chat protocol, once, for every model surfturf serves itself.

The planted organisms and the in-process engines (transformers, vLLM) differ only in how they
answer one request; this module owns the rest of the contract the official `openai` SDK relies
on: routes, the request shape (unknown or unsupported parameters are a 400 that names them, never
silently ignored), `n`, `stop`, the token cap and its `finish_reason: "length"`, SSE streaming
ending in `[DONE]`, and OpenAI's `{"error": {...}}` body for every error."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException as StarletteHTTPException

from app import messages_protocol

MAX_N = 16


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")  # name, tool_call_id…: carried, not interpreted
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """Text parts joined; a non-text part (image, audio) is refused by the validator."""
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content)
        return self.content or ""

    @field_validator("content")
    @classmethod
    def _text_only(cls, v: Any) -> Any:
        if isinstance(v, list):
            for part in v:
                if part.get("type") != "text":
                    raise ValueError(f"content part of type {part.get('type')!r}: this server "
                                     "serves text-only models")
        return v


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    include_usage: bool = False


class ChatBody(BaseModel):
    """The parameters these servers honour, plus the OpenAI ones they must refuse out loud."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=32_768)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=32_768)
    n: int = Field(default=1, ge=1, le=MAX_N)
    stop: str | list[str] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: str | None = None
    frequency_penalty: float | None = Field(default=None, ge=-2, le=2)
    presence_penalty: float | None = Field(default=None, ge=-2, le=2)
    # refused with a 400 that says why (see `unsupported`), rather than silently dropped
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: Any = None
    functions: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None
    logit_bias: dict[str, float] | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, v: str | list[str] | None) -> str | list[str] | None:
        if isinstance(v, list) and len(v) > 4:
            raise ValueError("at most 4 stop sequences")
        return v

    def unsupported(self) -> tuple[str, str] | None:
        """(param, why) for the first parameter set that these backends cannot honour."""
        if self.logprobs or self.top_logprobs:
            return "logprobs", "this backend does not return log probabilities"
        if self.tools or self.functions or self.tool_choice not in (None, "none"):
            return "tools", "tool calling is not supported by this server"
        if self.response_format and self.response_format.get("type") != "text":
            return "response_format", "only response_format {\"type\": \"text\"} is supported"
        if self.logit_bias:
            return "logit_bias", "logit_bias is not supported by this backend"
        for name in ("frequency_penalty", "presence_penalty"):
            if getattr(self, name):
                return name, f"{name} is not supported by this backend (only 0)"
        return None

    def stops(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else [s for s in self.stop or [] if s]

    def sampling(self) -> Sampling:
        return Sampling(temperature=self.temperature, top_p=self.top_p,
                        max_tokens=self.max_completion_tokens or self.max_tokens, seed=self.seed,
                        stop=tuple(self.stops()))

    def chat_messages(self) -> list[dict[str, str]]:
        return [{"role": "system" if m.role == "developer" else m.role, "content": m.text()}
                for m in self.messages]


@dataclass(frozen=True)
class Sampling:
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def params(self) -> dict[str, Any]:
        """As keyword arguments for a ChatClient (unset ones take the engine's defaults)."""
        out = {"temperature": self.temperature, "top_p": self.top_p, "max_tokens": self.max_tokens,
               "seed": self.seed, "stop": list(self.stop) or None}
        return {k: v for k, v in out.items() if v is not None}


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"


Respond = Callable[[list[dict[str, str]], Sampling], Awaitable[Reply]]


class EngineError(Exception):
    """Raised by a `Respond`: the request was valid but the engine could not answer it."""


def cut_at_stop(reply: Reply, stops: tuple[str, ...]) -> Reply:
    """The text before the first stop sequence, as OpenAI returns it (the stop itself dropped)."""
    cuts = [i for i in (reply.text.find(s) for s in stops) if i >= 0]
    if not cuts:
        return reply
    return replace(reply, text=reply.text[:min(cuts)], finish_reason="stop")


def error_body(message: str, *, type_: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _error(status: int, message: str, **kw: Any) -> JSONResponse:
    return JSONResponse(error_body(message, **kw), status_code=status)


def create_openai_app(model: str, respond: Respond, *, title: str) -> FastAPI:
    app = FastAPI(title=title)
    app.state.requests = 0
    created = int(time.time())
    card = {"id": model, "object": "model", "created": created, "owned_by": "surfturf"}
    _install_error_handlers(app)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """`requests`: chat calls answered so far, so a benchmark can check what a tool sent."""
        return {"status": "ok", "requests": app.state.requests}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [card]}

    @app.get("/v1/models/{model_id:path}", response_model=None)
    def model_card(model_id: str) -> dict[str, Any] | JSONResponse:
        if model_id != model:
            return _unknown_model(model_id, model)
        return card

    @app.post("/v1/completions", response_model=None)
    def completions() -> JSONResponse:
        return _error(404, f"{model} is a chat model: use /v1/chat/completions", code="not_found")

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(body: ChatBody) -> dict[str, Any] | JSONResponse | StreamingResponse:
        app.state.requests += 1
        if body.model is not None and body.model != model:
            return _unknown_model(body.model, model)
        refused = body.unsupported()
        if refused:
            return _error(400, f"{refused[0]}: {refused[1]}", param=refused[0], code="unsupported_parameter")
        sampling, messages = body.sampling(), body.chat_messages()
        seeds = [None if sampling.seed is None else sampling.seed + i for i in range(body.n)]
        try:  # n choices are n requests: the engine batches them
            replies = await asyncio.gather(*(respond(messages, replace(sampling, seed=s)) for s in seeds))
        except EngineError as exc:
            return _error(500, str(exc), type_="server_error", code="engine_error")
        replies = [cut_at_stop(r, sampling.stop) for r in replies]
        reply_id, now = f"chatcmpl-{uuid.uuid4().hex[:12]}", int(time.time())
        usage = {"prompt_tokens": replies[0].prompt_tokens,
                 "completion_tokens": sum(r.completion_tokens for r in replies)}
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        if body.stream:
            include = bool(body.stream_options and body.stream_options.include_usage)
            return StreamingResponse(_sse(reply_id, now, model, replies, usage if include else None),
                                     media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache"})
        return {
            "id": reply_id, "object": "chat.completion", "created": now, "model": model,
            "choices": [{"index": i, "message": {"role": "assistant", "content": r.text},
                         "logprobs": None, "finish_reason": r.finish_reason}
                        for i, r in enumerate(replies)],
            "usage": usage,
        }

    messages_protocol.add_messages_route(app, model, respond)
    return app


def _unknown_model(asked: str, served: str) -> JSONResponse:
    return _error(404, f"The model `{asked}` does not exist; this server serves `{served}`",
                  param="model", code="model_not_found")


async def _sse(reply_id: str, created: int, model: str, replies: list[Reply],
               usage: dict[str, int] | None) -> AsyncIterator[bytes]:
    """chat.completion.chunk events: the role, the text in word pieces, the finish, [DONE]."""

    def event(choices: list[dict[str, Any]], **extra: Any) -> bytes:
        chunk = {"id": reply_id, "object": "chat.completion.chunk", "created": created,
                 "model": model, "choices": choices, **extra}
        if usage is not None and "usage" not in extra:
            chunk["usage"] = None
        return f"data: {json.dumps(chunk)}\n\n".encode()

    for i, r in enumerate(replies):
        yield event([{"index": i, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}])
        for piece in re.findall(r"\s*\S+\s*|\s+", r.text):
            yield event([{"index": i, "delta": {"content": piece}, "finish_reason": None}])
        yield event([{"index": i, "delta": {}, "finish_reason": r.finish_reason}])
    if usage is not None:
        yield event([], usage=usage)
    yield b"data: [DONE]\n\n"


def _install_error_handlers(app: FastAPI) -> None:
    """OpenAI's error shape everywhere, so the SDK raises BadRequestError etc. with our message."""

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        param = ".".join(str(p) for p in first["loc"] if p != "body") or None
        if request.url.path == messages_protocol.PATH:  # Anthropic's error shape on its route
            return messages_protocol.error(400, f"{param}: {first['msg']}" if param else str(first["msg"]))
        if first.get("type") == "extra_forbidden":
            message = f"Unrecognized request argument supplied: {param}"
        elif first.get("type") == "json_invalid":
            message = "We could not parse the JSON body of your request."
        else:
            message = f"{param}: {first['msg']}" if param else str(first["msg"])
        return _error(400, message, param=param, code="invalid_value")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = ("Invalid URL: no route for this path" if exc.status_code == 404
                   else str(exc.detail))
        return _error(exc.status_code, message, code={404: "not_found"}.get(exc.status_code))
