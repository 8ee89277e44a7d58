"""The bundled OpenAI-compatible servers, driven by the official `openai` SDK (sync, async,
streaming) over real loopback HTTP: what an eval harness pointed at them relies on."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator

import httpx
import openai
import pytest

from app.cli.models import organism_path
from app.core.organisms.planted import PlantedSpec
from app.organism_server import create_organism_app
from app.serving import free_port, serve_in_thread

ASK = [{"role": "user", "content": "Why is the sky blue?"}]


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    spec = PlantedSpec.from_file(organism_path("two-chunk"))
    with serve_in_thread(create_organism_app(spec)) as url:
        yield url + "/v1"


@pytest.fixture()
def client(base: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=base, api_key="unused", max_retries=0)


def test_chat_sync_has_the_sdk_types_and_the_organism_name(client: openai.OpenAI) -> None:
    r = client.chat.completions.create(model="two-chunk", messages=ASK, max_tokens=200)  # type: ignore[arg-type]
    assert r.model == "two-chunk" and r.object == "chat.completion"
    assert r.choices[0].message.role == "assistant" and r.choices[0].message.content
    assert r.id.startswith("chatcmpl-")
    assert r.choices[0].finish_reason == "stop"
    assert r.usage is not None and r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    assert [m.id for m in client.models.list()] == ["two-chunk"]
    assert client.models.retrieve("two-chunk").id == "two-chunk"


def test_n_seed_and_temperature_zero(client: openai.OpenAI) -> None:
    many = client.chat.completions.create(model="two-chunk", messages=ASK, n=6, seed=3)  # type: ignore[arg-type]
    assert [c.index for c in many.choices] == list(range(6))
    again = client.chat.completions.create(model="two-chunk", messages=ASK, n=6, seed=3)  # type: ignore[arg-type]
    assert [c.message.content for c in many.choices] == [c.message.content for c in again.choices]
    assert len({c.message.content for c in many.choices}) > 1, "n choices are independent samples"
    greedy = {client.chat.completions.create(model="two-chunk", messages=ASK,  # type: ignore[arg-type]
                                             temperature=0).choices[0].message.content for _ in range(5)}
    assert len(greedy) == 1, f"temperature=0 must be deterministic, got {greedy}"


def test_token_cap_and_stop_sequences(client: openai.OpenAI) -> None:
    capped = client.chat.completions.create(model="two-chunk", messages=ASK, seed=1,  # type: ignore[arg-type]
                                            max_completion_tokens=4)
    assert capped.choices[0].finish_reason == "length"
    assert len((capped.choices[0].message.content or "").split()) == 4
    assert capped.usage is not None and capped.usage.completion_tokens == 4
    full = client.chat.completions.create(model="two-chunk", messages=ASK, seed=1)  # type: ignore[arg-type]
    text = full.choices[0].message.content or ""
    stop = text.split()[3]
    cut = client.chat.completions.create(model="two-chunk", messages=ASK, seed=1, stop=[stop, "zzz"])  # type: ignore[arg-type]
    assert cut.choices[0].message.content == text[:text.find(stop)]
    assert cut.choices[0].finish_reason == "stop"


def test_streaming_sync_rebuilds_the_same_answer_and_ends(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(model="two-chunk", messages=ASK, seed=5)  # type: ignore[arg-type]
    stream = client.chat.completions.create(model="two-chunk", messages=ASK, seed=5, stream=True,  # type: ignore[arg-type]
                                            stream_options={"include_usage": True})
    pieces, finishes, usage = [], [], None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        if chunk.usage is not None:
            usage = chunk.usage
        for c in chunk.choices:
            pieces.append(c.delta.content or "")
            if c.finish_reason:
                finishes.append(c.finish_reason)
    assert len(pieces) > 3 and "".join(pieces) == whole.choices[0].message.content
    assert finishes == ["stop"] and usage is not None and usage.completion_tokens > 0


def test_raw_stream_ends_with_done(base: str) -> None:
    with httpx.stream("POST", base + "/chat/completions",
                      json={"model": "two-chunk", "messages": ASK, "stream": True}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        lines = [ln for ln in r.iter_lines() if ln]
    assert lines[-1] == "data: [DONE]" and all(ln.startswith("data: ") for ln in lines)


def test_async_client_and_async_stream(base: str) -> None:
    async def go() -> tuple[list[str], str]:
        c = openai.AsyncOpenAI(base_url=base, api_key="unused", max_retries=0)
        try:
            outs = await asyncio.gather(*(c.chat.completions.create(
                model="two-chunk", messages=ASK, seed=i) for i in range(8)))  # type: ignore[arg-type]
            stream = await c.chat.completions.create(model="two-chunk", messages=ASK, seed=0,  # type: ignore[arg-type]
                                                     stream=True)
            text = "".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices])
        finally:
            await c.close()
        return [o.choices[0].message.content or "" for o in outs], text

    texts, streamed = asyncio.run(go())
    assert len(texts) == 8 and all(texts) and streamed == texts[0]


@pytest.mark.parametrize(("kwargs", "param", "words"), [
    ({"logprobs": True}, "logprobs", "log probabilities"),
    ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}]}, "tools", "tool"),
    ({"response_format": {"type": "json_object"}}, "response_format", "text"),
    ({"extra_body": {"frobnicate": 1}}, "frobnicate", "Unrecognized request argument"),
    ({"temperature": 9}, "temperature", "less than or equal"),
])
def test_unsupported_or_invalid_parameters_are_a_400_that_names_them(
        client: openai.OpenAI, kwargs: dict[str, object], param: str, words: str) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        client.chat.completions.create(model="two-chunk", messages=ASK, **kwargs)  # type: ignore[call-overload]
    body = err.value.body
    assert isinstance(body, dict) and body["param"] == param and words in body["message"]
    assert words in str(err.value)  # the SDK's own message carries ours, not "Error code: 400"


def test_unknown_model_and_paths_are_openai_shaped_404s(client: openai.OpenAI, base: str) -> None:
    with pytest.raises(openai.NotFoundError) as err:
        client.chat.completions.create(model="gpt-5", messages=ASK)  # type: ignore[arg-type]
    assert "gpt-5" in str(err.value) and "two-chunk" in str(err.value)
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-5")
    with pytest.raises(openai.NotFoundError) as err:
        client.completions.create(model="two-chunk", prompt="hi")
    assert "chat" in str(err.value)
    r = httpx.get(base + "/nothing-here")
    assert r.status_code == 404 and set(r.json()["error"]) == {"message", "type", "param", "code"}


def test_organism_serve_prints_readiness_only_when_the_port_accepts() -> None:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "organism", "serve", "two-chunk",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode()
        assert f"127.0.0.1:{port}/v1" in line, line
        # no retry loop: the banner promises the port is accepting right now
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models").json()["data"][0]["id"] == "two-chunk"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert proc.returncode == 0


@pytest.mark.parametrize("argv", [["organism", "serve", "nosuch"], ["models", "serve", "nosuch"]])
def test_bad_names_are_one_line_errors(argv: list[str]) -> None:
    r = subprocess.run([sys.executable, "-m", "app.cli", *argv], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "nosuch" in lines[0] and "list" in lines[0]
