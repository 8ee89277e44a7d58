"""Chunk plans: every item in exactly one chunk, in the design's order; what is never cut."""

from __future__ import annotations

import itertools

from app.core.surf.chunks import plan_chunks
from app.core.surf.factorial import expand
from app.core.surf.spec import ProbeSpec


def spec(**design: object) -> ProbeSpec:
    return ProbeSpec.model_validate({
        "name": "c", "prompts": [f"q{i}" for i in range(7)],
        "features": {"f": {"levels": {"a": "{prompt}", "b": "<q>{prompt}</q>"}}},
        "behaviours": {"e": {"builtin": "emoji"}}, "design": {"samples_per_prompt": 5, **design}})


def test_chunks_cover_every_item_once_in_order() -> None:
    s = spec()  # 2 × 7 × 5 = 70 items
    parts = plan_chunks(s, 16)
    assert parts == [(0, 16), (16, 32), (32, 48), (48, 64), (64, 70)]
    keys = [it.key for start, stop in parts for it in itertools.islice(expand(s), start, stop)]
    assert keys == [it.key for it in expand(s)] and len(set(keys)) == 70


def test_small_sequential_and_budgeted_audits_are_not_cut() -> None:
    assert plan_chunks(spec(), 70) == [] and plan_chunks(spec(), 0) == []
    assert plan_chunks(spec(), 69) == [(0, 69), (69, 70)]
    assert plan_chunks(spec(kind="sequential", samples_per_round=1), 10) == []
    assert plan_chunks(spec(max_requests=1000), 10) == []
