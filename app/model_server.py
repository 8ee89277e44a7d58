"""An in-process ChatClient (transformers or vLLM engine) behind the OpenAI-compatible protocol."""

from __future__ import annotations

from pathlib import Path

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


def lm_organism_app(data_dir: Path, folder: Path, name: str) -> FastAPI:
    """A built LM organism (base SmolLM2 + its LoRA adapter) answering under its own name."""
    from app.core.llm import local_models
    from app.core.llm.hf_engine import hf_client

    base = local_models.export_hf("smollm2", local_models.export_dir(data_dir, "smollm2"))
    return create_model_app(hf_client(base, name, folder / "adapter"))
