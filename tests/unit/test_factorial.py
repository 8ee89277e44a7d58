"""Factorial expansion and execution against the planted organism on loopback: every item runs
once, writes happen behind the lanes, and a failed write stops the run and surfaces."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from app.audits.use_cases import build_behaviours
from app.core.llm import OpenAIChatClient
from app.core.surf.factorial import SampleResult, expand, run_factorial
from app.core.surf.spec import ProbeSpec


def spec(samples: int = 3, concurrency: int = 8) -> ProbeSpec:
    return ProbeSpec.model_validate({
        "name": "factorial", "prompts": ["Why is the sky blue?", "How do magnets work?", "What is DNA?"],
        "features": {"format": {"builtin": "tag_format"}, "metadata": {"builtin": "metadata"}},
        "behaviours": {"emoji": {"builtin": "emoji"}},
        "design": {"samples_per_prompt": samples, "concurrency": concurrency, "max_tokens": 32, "seed": 5}})


def test_expansion_is_the_full_grid_with_stable_distinct_seeds() -> None:
    s = spec()
    items = list(expand(s))
    assert len(items) == s.work_item_count() == 4 * 3 * 3
    assert len({it.key for it in items}) == len(items)
    assert [it.seed for it in items] == [it.seed for it in expand(s)]  # reproducible
    assert len({it.seed for it in items}) == len(items)
    assert {it.sample_index for it in expand(s, samples_limit=1)} == {0}
    reseeded = spec().model_copy(update={"design": s.design.model_copy(update={"seed": 6})})
    assert [it.seed for it in expand(reseeded)] != [it.seed for it in items]


def test_every_item_runs_once_and_reaches_the_sink(two_chunk_url: str) -> None:
    s = spec(concurrency=8)
    stored: list[SampleResult] = []

    async def sink(batch: list[SampleResult]) -> None:
        await asyncio.sleep(0.05)  # a slow database: the lanes must not wait for it
        stored.extend(batch)

    async def run() -> Any:
        client = OpenAIChatClient(two_chunk_url + "/v1", "two-chunk", max_concurrency=8)
        try:
            return await run_factorial(s, client, build_behaviours(s, None), sink=sink, batch_size=5)
        finally:
            await client.aclose()

    outcome = asyncio.run(run())
    assert outcome.attempted == outcome.stored == len(stored) == s.work_item_count()
    assert len({r.item.key for r in stored}) == len(stored)
    assert all(r.error is None and set(r.scores) == {"emoji"} for r in stored)
    # the planted organism answers tagged prompts with emojis: the scores are real
    tagged = [r.scores["emoji"]["elicited"] for r in stored if r.item.cell["format"] != "plain"]
    plain = [r.scores["emoji"]["elicited"] for r in stored if r.item.cell["format"] == "plain"]
    assert sum(tagged) / len(tagged) > sum(plain) / len(plain)


def test_a_failed_write_stops_the_lanes_and_is_raised(two_chunk_url: str) -> None:
    s = spec(samples=20, concurrency=4)  # 240 items
    writes = 0

    async def sink(batch: list[SampleResult]) -> None:
        nonlocal writes
        writes += 1
        if writes == 2:
            raise RuntimeError("lease lost")

    client = OpenAIChatClient(two_chunk_url + "/v1", "two-chunk", max_concurrency=4)

    async def run() -> Any:
        try:
            return await run_factorial(s, client, {}, sink=sink, batch_size=10)
        finally:
            await client.aclose()

    with pytest.raises(RuntimeError, match="lease lost"):
        asyncio.run(run())
    assert client.usage.requests < s.work_item_count() / 2  # stopped early, not after every call
