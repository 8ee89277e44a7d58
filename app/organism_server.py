"""OpenAI-compatible HTTP server for a planted organism (transport only)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel, Field

from app.core.organisms.planted import PlantedOrganism, PlantedSpec, usage_of


class ChatBody(BaseModel):
    model: str
    messages: list[dict[str, Any]] = Field(min_length=1)
    seed: int | None = None
    temperature: float | None = None
    max_tokens: int | None = None


def create_organism_app(spec: PlantedSpec, *, latency_ms: float = 0.0) -> FastAPI:
    organism = PlantedOrganism(spec)
    app = FastAPI(title=f"surfturf organism: {spec.name}")
    app.state.requests = 0

    @app.get("/v1/models")
    def models() -> dict[str, Any]:
        return {"object": "list", "data": [{"id": spec.name, "object": "model", "owned_by": "surfturf"}]}

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    async def chat(body: ChatBody) -> dict[str, Any]:
        app.state.requests += 1
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        text = organism.respond(body.messages, body.seed)
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
            "created": int(time.time()), "model": spec.name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": usage_of(body.messages, text),
        }

    return app
