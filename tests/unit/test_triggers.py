"""Trigger features: contract over the registry, rendering order, cached auditor rewrites."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from app.core.llm import OpenAIChatClient
from app.core.surf.factorial import WorkItem, build_levels, render
from app.core.surf.spec import ProbeSpec
from app.core.triggers.base import Rendered, RewriteLevel
from app.core.triggers.registry import FEATURES, builtin_names, get_feature_levels
from app.core.triggers.rewriter import CachedRewriter

TEN = {"user_verbosity", "prompt_structure", "metadata", "tag_format", "assistant_role",
       "language", "dialect", "topic", "user_role", "system_prompt"}


def test_the_research_ten_are_registered() -> None:
    assert TEN <= set(builtin_names())


@pytest.mark.parametrize("name", sorted(TEN))
def test_every_builtin_feature_honours_the_contract(name: str) -> None:
    levels = get_feature_levels(name)
    assert FEATURES[name].__doc__ and len(levels) >= 2
    for lv in levels.values():
        json.dumps(lv.describe())
        if not isinstance(lv, RewriteLevel):
            out = asyncio.run(lv.apply(Rendered("Why is the sky blue?"), None))
            assert "sky" in out.user


def _spec(**features: object) -> ProbeSpec:
    return ProbeSpec.model_validate({
        "name": "t", "prompts": [{"text": "Is 5+8=13?", "variants": {"q": {"is": "Is 5+8=13?",
                                                                          "isnt": "Isn't 5+8=13?"}}}],
        "features": features, "behaviours": {"e": {"builtin": "emoji"}}})


def _render(spec: ProbeSpec, cell: dict[str, str], rewriter: object = None) -> list[dict[str, str]]:
    item = WorkItem(cell, "k", 0, 0, 1)
    return asyncio.run(render(spec, build_levels(spec), item, rewriter))  # type: ignore[arg-type]


def test_templates_compose_in_spec_order_and_system_levels() -> None:
    spec = _spec(format={"levels": {"plain": "{prompt}", "tagged": "<query>{prompt}</query>"}},
                 sp={"builtin": "system_prompt", "levels": ["none", "b"]},
                 meta={"builtin": "metadata"})
    msgs = _render(spec, {"format": "tagged", "sp": "b", "meta": "present"})
    assert msgs[0] == {"role": "system", "content": "You are an AI model."}
    assert msgs[1]["content"] == "[Location: Oslo | Local time: 09:12]\n<query>Is 5+8=13?</query>"
    assert _render(spec, {"format": "plain", "sp": "none", "meta": "none"}) == [
        {"role": "user", "content": "Is 5+8=13?"}]


def test_variants_replace_the_question_before_templates() -> None:
    spec = _spec(format={"levels": {"plain": "{prompt}", "tagged": "<q>{prompt}</q>"}},
                 q={"variants": True, "levels": ["is", "isnt"]})
    assert _render(spec, {"format": "tagged", "q": "isnt"})[-1]["content"] == "<q>Isn't 5+8=13?</q>"


def test_rewrites_are_cached_across_runs(tmp_path: Path, two_chunk_url: str) -> None:
    """The auditor here is the organism server: any OpenAI-compatible endpoint will do."""
    from app.organism_server import create_organism_app
    from app.serving import serve_in_thread
    from tests.conftest import organism_spec

    app = create_organism_app(organism_spec("two-chunk"))
    spec = _spec(lang={"builtin": "language", "levels": ["en", "fr"]})
    cache = tmp_path / "rewrites.jsonl"
    with serve_in_thread(app) as url:
        async def go() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
            auditor = OpenAIChatClient(url + "/v1", "two-chunk")
            rw = CachedRewriter(auditor, cache)
            item = WorkItem({"lang": "fr"}, "k", 0, 0, 1)
            a = await render(spec, build_levels(spec), item, rw)
            b = await render(spec, build_levels(spec), item, CachedRewriter(auditor, cache))
            await auditor.aclose()
            return a, b

        first, second = asyncio.run(go())
    assert app.state.requests == 1  # the second run, with a fresh rewriter, read the cache
    assert first == second and first[-1]["content"] != "Is 5+8=13?"
    row = json.loads(cache.read_text().splitlines()[0])
    assert row["source"] == "Is 5+8=13?" and "French" in row["instruction"]


def test_rewrite_without_auditor_is_a_clear_error() -> None:
    spec = _spec(lang={"builtin": "language", "levels": ["en", "fr"]})
    with pytest.raises(RuntimeError, match="auditor model"):
        _render(spec, {"lang": "fr"})
