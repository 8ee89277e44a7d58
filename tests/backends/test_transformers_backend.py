"""`surfturf models serve smollm2` gives any OpenAI client a working local model."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.llm import OpenAIChatClient
from app.core.surf.spec import ProbeSpec
from app.embedded import run_audit_embedded
from app.serving import free_port
from tests.conftest import make_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def served(smollm2_data_dir: Path) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "--data-dir", str(smollm2_data_dir), "models", "serve",
         "smollm2", "--backend", "transformers", "--port", str(port)],
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.stdout.read().decode() if proc.stdout else ""
            proc.kill()
            raise AssertionError(f"model server did not start:\n{out[-3000:]}")
        time.sleep(0.5)
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
    assert r.status_code == 422 and "messages" in r.text


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
