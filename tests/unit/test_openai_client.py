"""The target client against a real loopback server that injects faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from app.core.llm import Budget, BudgetExceeded, LLMError, OpenAIChatClient
from app.serving import free_port, serve_in_thread

OK = {"choices": [{"message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
      "usage": {"prompt_tokens": 5, "completion_tokens": 2}, "model": "m"}


class Faults:
    """Per-scenario script: a list of actions consumed one per request."""

    def __init__(self) -> None:
        self.script: list[str] = []
        self.log: list[dict[str, Any]] = []
        self.in_flight = 0
        self.peak = 0


@pytest.fixture(scope="module")
def faulty() -> Iterator[tuple[str, Faults]]:
    faults = Faults()
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> Response:
        body = await request.json()
        faults.log.append({"t": time.monotonic(), "body": body,
                           "auth": request.headers.get("authorization")})
        action = faults.script.pop(0) if faults.script else "ok"
        if action == "500":
            return JSONResponse({"error": {"message": "engine overloaded"}}, status_code=500)
        if action == "429":
            return JSONResponse({"error": {"message": "slow down"}}, status_code=429,
                                headers={"Retry-After": "0.3"})
        if action == "400":
            return JSONResponse({"error": {"message": "max_tokens too large"}}, status_code=400)
        if action == "hang":
            await asyncio.sleep(5)
        if action == "slow":
            faults.in_flight += 1
            faults.peak = max(faults.peak, faults.in_flight)
            await asyncio.sleep(0.05)
            faults.in_flight -= 1
        if action == "garbage":
            return PlainTextResponse("{not json", status_code=200)
        return JSONResponse(OK)

    with serve_in_thread(app) as url:
        yield url, faults


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def client(url: str, **kw: Any) -> OpenAIChatClient:
    return OpenAIChatClient(url + "/v1", "m", backoff_base=0.01, backoff_max=1.0, **kw)


MSG = [{"role": "user", "content": "hi"}]


def test_retries_500_and_malformed_then_succeeds(faulty: tuple[str, Faults]) -> None:
    url, f = faulty
    f.script, f.log[:] = ["500", "garbage", "ok"], []
    c = client(url, api_key="sk-x")

    async def go() -> Any:
        try:
            return await c.chat(MSG, temperature=0.5, seed=3, max_tokens=7)
        finally:
            await c.aclose()

    resp = run(go())
    assert resp.text == "hello" and resp.attempts == 3
    assert c.usage.retries == 2 and c.usage.errors == {"http_500": 1, "http_200": 1}
    assert c.usage.prompt_tokens == 5 and c.usage.completion_tokens == 2
    sent = f.log[-1]["body"]
    assert (sent["temperature"], sent["seed"], sent["max_tokens"]) == (0.5, 3, 7)
    assert f.log[-1]["auth"] == "Bearer sk-x"


def test_429_honours_retry_after(faulty: tuple[str, Faults]) -> None:
    url, f = faulty
    f.script, f.log[:] = ["429", "ok"], []
    c = client(url)
    run(c.chat(MSG))
    assert f.log[1]["t"] - f.log[0]["t"] >= 0.28


def test_non_retryable_error_carries_target_message(faulty: tuple[str, Faults]) -> None:
    url, f = faulty
    f.script, f.log[:] = ["400"], []
    c = client(url)
    with pytest.raises(LLMError) as err:
        run(c.chat(MSG))
    assert err.value.status == 400 and "max_tokens too large" in err.value.message
    assert len(f.log) == 1 and c.usage.failed == 1


def test_timeouts_retry_then_give_up_without_hanging(faulty: tuple[str, Faults]) -> None:
    url, f = faulty
    f.script, f.log[:] = ["hang", "hang", "hang"], []
    c = client(url, timeout=0.3, max_retries=2)
    started = time.monotonic()
    with pytest.raises(LLMError) as err:
        run(c.chat(MSG))
    assert "timeout" in err.value.message and len(f.log) == 3
    assert time.monotonic() - started < 4


def test_unreachable_target_is_a_typed_error() -> None:
    c = OpenAIChatClient(f"http://127.0.0.1:{free_port()}/v1", "m", max_retries=1, backoff_base=0.01)
    with pytest.raises(LLMError, match="cannot reach"):
        run(c.chat(MSG))


def test_request_budget_stops_cleanly(faulty: tuple[str, Faults]) -> None:
    url, f = faulty
    f.script, f.log[:] = [], []
    c = client(url, budget=Budget(max_requests=3))

    async def go() -> list[Any]:
        return await asyncio.gather(*(c.chat(MSG) for _ in range(5)), return_exceptions=True)

    out = run(go())
    assert sum(isinstance(o, BudgetExceeded) for o in out) == 2 and len(f.log) == 3


def test_token_budget(faulty: tuple[str, Faults]) -> None:
    url, f = faulty
    c = client(url, budget=Budget(max_tokens=10))

    async def go() -> None:
        await c.chat(MSG)  # 7 tokens
        await c.chat(MSG)  # 14 tokens: over after settling
        with pytest.raises(BudgetExceeded):
            await c.chat(MSG)

    run(go())


def test_concurrency_is_bounded(faulty: tuple[str, Faults]) -> None:
    url, f = faulty
    f.script, f.log[:] = ["slow"] * 10, []
    f.peak = 0
    c = client(url, max_concurrency=2)

    async def go() -> None:
        await asyncio.gather(*(c.chat(MSG) for _ in range(10)))

    run(go())
    assert f.peak == 2 and len(f.log) == 10


def test_a_call_may_name_another_model_behind_the_endpoint(faulty: tuple[str, Faults]) -> None:
    """What a second judge on a gateway (LiteLLM and the like) sends."""
    url, f = faulty
    f.script, f.log[:] = [], []
    c = client(url)

    async def both() -> None:
        try:
            await c.chat(MSG, model="judge-b")
            await c.chat(MSG)
        finally:
            await c.aclose()

    run(both())
    assert [x["body"]["model"] for x in f.log] == ["judge-b", "m"]
