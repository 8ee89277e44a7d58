"""OpenAI-compatible HTTP front for any in-process ChatClient (transformers or vLLM engine)."""

from __future__ import annotations

import time
import uuid
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from app.core.llm.base import ChatClient
from app.core.llm.errors import LLMError


class ChatBody(BaseModel):
    model: str | None = None
    messages: list[dict[str, Any]] = Field(min_length=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=4096)
    seed: int | None = None


def create_model_app(client: ChatClient) -> FastAPI:
    app = FastAPI(title=f"surfturf model server: {client.model}")

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": client.model, "object": "model", "owned_by": "surfturf"}]}

    @app.post("/v1/chat/completions", response_model=None)
    async def chat(body: ChatBody) -> dict[str, Any] | JSONResponse:
        params = body.model_dump(exclude={"model", "messages"}, exclude_none=True)
        try:
            resp = await client.chat(body.messages, **params)  # type: ignore[arg-type]
        except (LLMError, RuntimeError) as exc:
            return JSONResponse({"error": {"message": str(exc), "type": "engine_error"}}, status_code=500)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
            "created": int(time.time()), "model": client.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": resp.text},
                         "finish_reason": resp.finish_reason or "stop"}],
            "usage": {"prompt_tokens": resp.prompt_tokens, "completion_tokens": resp.completion_tokens,
                      "total_tokens": resp.prompt_tokens + resp.completion_tokens},
        }

    return app
