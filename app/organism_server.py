"""A planted organism behind the OpenAI-compatible protocol (app/openai_server.py)."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from app.core.organisms.planted import PlantedOrganism, PlantedSpec, usage_of
from app.openai_server import ChatBody, Reply, create_openai_app


def create_organism_app(spec: PlantedSpec, *, latency_ms: float = 0.0) -> FastAPI:
    organism = PlantedOrganism(spec)

    async def respond(body: ChatBody) -> Reply:
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        text = organism.respond(body.messages, body.seed)
        usage = usage_of(body.messages, text)
        return Reply(text, usage["prompt_tokens"], usage["completion_tokens"])

    return create_openai_app(spec.name, respond, title=f"surfturf organism: {spec.name}")
