"""The Messages-API client (the official SDK, its retries off) against real loopback servers:
one that injects faults, and surfturf's own organism server speaking the Messages protocol."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from app.core.egress import EgressPolicy
from app.core.llm.anthropic_client import AnthropicChatClient
from app.core.llm.errors import LLMError
from app.core.organisms.planted import PlantedSpec
from app.errors import EgressDenied
from app.organism_server import create_organism_app
from app.serving import serve_in_thread
from tests.conftest import ORGANISMS

OK = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
      "content": [{"type": "text", "text": "hello"}], "stop_reason": "end_turn", "stop_sequence": None,
      "usage": {"input_tokens": 5, "output_tokens": 2}}


def fault(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


@pytest.fixture(scope="module")
def faulty() -> Iterator[tuple[str, dict[str, Any]]]:
    state: dict[str, Any] = {"script": [], "log": []}
    app = FastAPI()

    @app.post("/v1/messages")
    async def messages(request: Request) -> Response:
        state["log"].append({"t": time.monotonic(), "body": await request.json(),
                             "key": request.headers.get("x-api-key")})
        action = state["script"].pop(0) if state["script"] else "ok"
        if action == "429":
            return JSONResponse(fault("rate_limit_error", "slow down"), status_code=429,
                                headers={"retry-after": "0.3"})
        if action == "529":
            return JSONResponse(fault("overloaded_error", "overloaded"), status_code=529)
        if action == "400":
            return JSONResponse(fault("invalid_request_error", "bad key sk-ant-secret-123456"),
                                status_code=400)
        if action == "garbage":
            return PlainTextResponse("{not json", status_code=200)
        return JSONResponse(OK)

    with serve_in_thread(app) as url:
        yield url, state


def chat(c: AnthropicChatClient, messages: list[dict[str, str]], **params: Any) -> Any:
    async def go() -> Any:
        try:
            return await c.chat(messages, **params)
        finally:
            await c.aclose()

    return asyncio.run(go())


def client(url: str, **kw: Any) -> AnthropicChatClient:
    return AnthropicChatClient(url, "claude-x", backoff_base=0.01, backoff_max=1.0, **kw)


def test_the_request_it_sends_and_our_retries_not_the_sdks(faulty: tuple[str, dict[str, Any]]) -> None:
    url, st = faulty
    st["script"], st["log"][:] = ["529", "429", "ok"], []
    c = client(url, api_key="sk-ant-secret-123456")
    resp = chat(c, [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}],
                temperature=0.3, max_tokens=20, stop=["\n\n"], seed=4)
    assert resp.text == "hello" and resp.attempts == 3 and resp.finish_reason == "stop"
    assert (resp.prompt_tokens, resp.completion_tokens) == (5, 2)
    assert c.usage.retries == 2 and c.usage.errors == {"http_529": 1, "http_429": 1} and len(st["log"]) == 3
    assert st["log"][2]["t"] - st["log"][1]["t"] >= 0.28  # the server's retry-after, honoured by us
    body = st["log"][-1]["body"]
    assert body == {"model": "claude-x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 20,
                    "system": "Be brief.", "temperature": 0.3, "stop_sequences": ["\n\n"]}  # no seed
    assert st["log"][-1]["key"] == "sk-ant-secret-123456"


def test_errors_are_typed_and_scrubbed(faulty: tuple[str, dict[str, Any]]) -> None:
    url, st = faulty
    st["script"], st["log"][:] = ["400"], []
    c = client(url, api_key="sk-ant-secret-123456")
    with pytest.raises(LLMError) as err:
        chat(c, [{"role": "user", "content": "hi"}])
    assert err.value.status == 400 and not err.value.retryable and len(st["log"]) == 1
    assert "bad key ***" in err.value.message and "secret-123456" not in err.value.message
    st["script"] = ["garbage", "ok"]
    assert chat(client(url), [{"role": "user", "content": "hi"}]).attempts == 2


def test_the_egress_pin_applies() -> None:
    c = AnthropicChatClient("http://127.0.0.1:9/v1", "m", egress=EgressPolicy.parse("public"), max_retries=0)
    with pytest.raises(EgressDenied, match="loopback address the egress policy does not allow"):
        chat(c, [{"role": "user", "content": "hi"}])


def test_against_the_organism_server_speaking_messages() -> None:
    organism = PlantedSpec.from_file(ORGANISMS / "two-chunk.yaml")
    with serve_in_thread(create_organism_app(organism)) as url:
        c = AnthropicChatClient(url, organism.name, egress=EgressPolicy.parse("loopback"))
        got = chat(c, [{"role": "user", "content": "<query>Why is the sky blue?</query>"}], max_tokens=200,
                   temperature=1.0)
        assert got.text and got.model == organism.name and got.completion_tokens > 0
        cut = chat(AnthropicChatClient(url, organism.name), [{"role": "user", "content": "Why?"}],
                   max_tokens=200, stop=["."])
        assert "." not in cut.text and cut.finish_reason == "stop"
        with pytest.raises(LLMError) as err:
            chat(AnthropicChatClient(url, "nope", max_retries=0), [{"role": "user", "content": "hi"}])
        assert err.value.status == 404 and "two-chunk" in err.value.message
