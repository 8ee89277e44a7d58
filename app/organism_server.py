"""A planted organism behind the OpenAI-compatible protocol (app/openai_server.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re

from fastapi import FastAPI

from app.core.organisms.planted import PlantedOrganism, PlantedSpec, usage_of
from app.openai_server import Reply, Sampling, create_openai_app


def create_organism_app(spec: PlantedSpec, *, latency_ms: float = 0.0) -> FastAPI:
    organism = PlantedOrganism(spec)

    async def respond(messages: list[dict[str, str]], sampling: Sampling) -> Reply:
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        seed = sampling.seed
        if seed is None and sampling.temperature == 0:  # greedy: the same request, the same answer
            digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).digest()
            seed = int.from_bytes(digest[:8], "big")
        text, finish = organism.respond(messages, seed), "stop"
        words = list(re.finditer(r"\S+", text))
        if sampling.max_tokens is not None and len(words) > sampling.max_tokens:  # a word is a token
            text, finish = text[: words[sampling.max_tokens - 1].end()], "length"
        usage = usage_of(messages, text)
        return Reply(text, usage["prompt_tokens"], usage["completion_tokens"], finish)

    return create_openai_app(spec.name, respond, title=f"surfturf organism: {spec.name}")
