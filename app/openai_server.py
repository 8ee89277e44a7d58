"""The OpenAI-compatible chat protocol, once, for every model surfturf serves itself.

The planted organisms and the in-process engines (transformers, vLLM) differ only in how they
answer; this module owns the routes, the request shape and the response and error bodies."""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field


class ChatBody(BaseModel):
    model: str | None = None
    messages: list[dict[str, Any]] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=32_768)
    seed: int | None = None

    def sampling(self) -> dict[str, Any]:
        """The sampling parameters the caller set (unset ones take the engine's defaults)."""
        return self.model_dump(exclude={"model", "messages"}, exclude_none=True)


@dataclass(frozen=True)
class Reply:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str = "stop"


Respond = Callable[[ChatBody], Awaitable[Reply]]


class EngineError(Exception):
    """Raised by a `Respond`: the request was valid but the engine could not answer it."""


def create_openai_app(model: str, respond: Respond, *, title: str) -> FastAPI:
    app = FastAPI(title=title)
    app.state.requests = 0

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": model, "object": "model", "owned_by": "surfturf"}]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(body: ChatBody) -> dict[str, Any] | JSONResponse:
        app.state.requests += 1
        try:
            reply = await respond(body)
        except EngineError as exc:
            return JSONResponse({"error": {"message": str(exc), "type": "engine_error"}}, status_code=500)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                         "finish_reason": reply.finish_reason}],
            "usage": {"prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
                      "total_tokens": reply.prompt_tokens + reply.completion_tokens},
        }

    return app
