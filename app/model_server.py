"""An in-process ChatClient (transformers or vLLM engine) behind the OpenAI-compatible protocol."""

from __future__ import annotations

from fastapi import FastAPI

from app.core.llm.base import ChatClient
from app.core.llm.errors import LLMError
from app.openai_server import EngineError, Reply, Sampling, create_openai_app


def create_model_app(client: ChatClient) -> FastAPI:
    async def respond(messages: list[dict[str, str]], sampling: Sampling) -> Reply:
        try:
            resp = await client.chat(messages, **sampling.params())
        except (LLMError, RuntimeError) as exc:
            raise EngineError(str(exc)) from exc
        return Reply(resp.text, resp.prompt_tokens, resp.completion_tokens, resp.finish_reason or "stop")

    return create_openai_app(client.model, respond, title=f"surfturf model server: {client.model}")
