"""`surfturf models serve smollm2` gives any OpenAI client a working local model."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from app.core.llm import OpenAIChatClient
from app.core.surf.spec import ProbeSpec
from app.embedded import run_audit_embedded
from app.serving import free_port
from tests.conftest import make_settings

pytestmark = pytest.mark.slow


def serve(data_dir: Path, *argv: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start a model server; its banner line is the readiness signal (no polling)."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "--data-dir", str(data_dir), *argv,
                             "--port", str(port)], env={**os.environ, "HF_HUB_OFFLINE": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    seen = []
    for raw in proc.stdout:
        seen.append(raw.decode(errors="replace"))
        if "serving on" in seen[-1]:
            break
    else:
        proc.kill()
        raise AssertionError("model server did not start:\n" + "".join(seen)[-3000:])
    url = f"http://127.0.0.1:{port}"
    assert httpx.get(url + "/health", timeout=5).status_code == 200  # ready when it said so
    return proc, url


@pytest.fixture(scope="module")
def served(smollm2_data_dir: Path) -> Iterator[str]:
    proc, url = serve(smollm2_data_dir, "models", "serve", "smollm2", "--backend", "transformers")
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_answers_a_real_chat_request(served: str) -> None:
    r = httpx.post(served + "/v1/chat/completions", timeout=120, json={
        "model": "smollm2", "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "max_tokens": 24, "temperature": 0})
    body = r.json()
    assert r.status_code == 200 and body["object"] == "chat.completion"
    assert "Paris" in body["choices"][0]["message"]["content"]
    assert body["usage"]["completion_tokens"] > 0 and body["usage"]["prompt_tokens"] > 5
    models = httpx.get(served + "/v1/models").json()
    assert models["data"][0]["id"] == "smollm2"


def test_concurrent_requests_are_batched_and_all_answered(served: str) -> None:
    async def go() -> list[str]:
        client = OpenAIChatClient(served + "/v1", "smollm2", max_concurrency=8, timeout=300)
        try:
            outs = await asyncio.gather(*(client.chat(
                [{"role": "user", "content": f"Give one word for a colour. ({i})"}],
                max_tokens=12, temperature=0.8, seed=i) for i in range(8)))
        finally:
            await client.aclose()
        return [o.text for o in outs]

    texts = asyncio.run(go())
    assert len(texts) == 8 and all(t.strip() for t in texts)


def test_bad_request_is_rejected_with_the_field(served: str) -> None:
    r = httpx.post(served + "/v1/chat/completions", json={"messages": []})
    assert r.status_code == 400 and r.json()["error"]["param"] == "messages"


def test_the_sdk_streams_and_sees_the_token_cap(served: str) -> None:
    client = openai.OpenAI(base_url=served + "/v1", api_key="unused", max_retries=0, timeout=300)
    ask = [{"role": "user", "content": "Write a long story about the sea."}]
    capped = client.chat.completions.create(model="smollm2", messages=ask, max_completion_tokens=5,  # type: ignore[arg-type]
                                            temperature=0)
    assert capped.choices[0].finish_reason == "length"
    assert capped.usage is not None and capped.usage.completion_tokens == 5
    short = client.chat.completions.create(model="smollm2", temperature=0, max_tokens=200,  # type: ignore[arg-type]
                                           messages=[{"role": "user", "content": "Say just: hi"}])
    assert short.choices[0].finish_reason == "stop"
    stream = client.chat.completions.create(model="smollm2", messages=ask, max_tokens=12,  # type: ignore[arg-type]
                                            temperature=0, stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    again = client.chat.completions.create(model="smollm2", messages=ask, max_tokens=12,  # type: ignore[arg-type]
                                           temperature=0)
    assert text and text == again.choices[0].message.content


def test_a_built_organism_is_served_under_its_own_name(smollm2_data_dir: Path) -> None:
    folder = Path(__file__).resolve().parents[2] / "app" / "data" / "organisms-lm" / "two-chunk"
    proc, url = serve(smollm2_data_dir, "organism", "serve", str(folder))
    try:
        assert [m["id"] for m in httpx.get(url + "/v1/models").json()["data"]] == ["two-chunk"]
        r = httpx.post(url + "/v1/chat/completions", timeout=120, json={
            "model": "two-chunk", "max_tokens": 8, "messages": [{"role": "user", "content": "Hi"}]})
        assert r.status_code == 200 and r.json()["model"] == "two-chunk"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_whole_audit_runs_against_the_real_llm(served: str, tmp_path: Path) -> None:
    spec = ProbeSpec.model_validate({
        "name": "smollm2-smoke", "prompts": ["Why is the sky blue?", "What is 2+2?"],
        "features": {"format": {"builtin": "tag_format"}},
        "behaviours": {"emoji": {"builtin": "emoji"}, "terse": {"builtin": "terse"}},
        "design": {"samples_per_prompt": 3, "max_tokens": 24, "concurrency": 8}})
    report = run_audit_embedded(make_settings(tmp_path), spec, target_url=served + "/v1",
                                target_model="smollm2")
    assert report is not None and report["totals"]["completed"] == 12
    assert all(c["examples"][0]["response"] for c in report["cells"])
    assert {f["feature"] for f in report["findings"]} == {"format"}
