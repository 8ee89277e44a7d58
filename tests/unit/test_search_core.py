"""The search's pure parts: spec checks, SURF's pool format with located errors, the built-in
pool, composition, the prompt hold-out, candidate plans, and the published schemas."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.core.search.attributes import Attribute, builtin_pool, compose, read_jsonl, split_prompts
from app.core.search.loader import load_search_file
from app.core.search.loop import Candidate
from app.core.search.result import SearchResult
from app.core.search.sampling import plan, weights
from app.core.search.spec import SearchSpec
from app.core.surf.loader import SpecFileError

DOCS = Path(__file__).resolve().parents[2] / "docs"
BASE = {"name": "s", "seed_prompts": ["a?", "b?", "c?", "d?"],
        "judge": {"behaviour": {"builtin": "emoji"}},
        "attributes": [{"id": "x", "text": "X", "template": "<q>{prompt}</q>"}, {"id": "y", "text": "Y"}]}


@pytest.mark.parametrize(("change", "message"), [
    ({"attributes": [{"id": "x", "text": "X", "template": "no slot"}, {"id": "y", "text": "Y"}]},
     "must contain {prompt}"),
    ({"attributes": [{"id": "x", "text": "X"}, {"id": "x", "text": "Y"}]}, "duplicate ids"),
    ({"attributes": [{"id": "a b", "text": "X"}, {"id": "y", "text": "Y"}]}, "should match pattern"),
    ({"judge": {"rubric": {"scoring_guide": "?"}}}, "a rubric needs its principle"),
    ({"judge": {}}, "exactly one of rubric, behaviour"),
    ({"attributes_file": "pool.jsonl"}, "exactly one of attributes"),
    ({"seed_prompts": ["a?", "b?"]}, "hold-out needs 4+"),
])
def test_spec_refuses_what_could_never_run(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SearchSpec.model_validate({**BASE, **change})


def test_surf_jsonl_pool_with_located_errors(tmp_path: Path) -> None:
    good = tmp_path / "pool.jsonl"
    good.write_text('{"attribute": "The query uses tags", "category": "format", '
                    '"template": "<t>{prompt}</t>"}\n\n{"text": "The query is in French"}\n',
                    encoding="utf-8")
    rows = read_jsonl(good)
    assert [r["id"] for r in rows] == ["a1", "a2"] and rows[0]["category"] == "format"
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"attribute": "ok"}\n{"attribute": "t", "template": "none"}\n', encoding="utf-8")
    with pytest.raises(SpecFileError, match=r"bad.jsonl:2: template: .*\{prompt\}"):
        read_jsonl(bad)
    bad.write_text('{"attribute": "ok"}\nnot json\n', encoding="utf-8")
    with pytest.raises(SpecFileError, match=r"bad.jsonl:2: invalid JSON"):
        read_jsonl(bad)
    spec = tmp_path / "search.yaml"
    spec.write_text("name: s\nseed_prompts: ['a', 'b', 'c', 'd']\nattributes_file: pool.jsonl\n"
                    "judge: {behaviour: {builtin: emoji}}\nbudget: {iterations: 0}\n", encoding="utf-8")
    with pytest.raises(SpecFileError, match=r"search.yaml:5: budget.iterations"):
        load_search_file(spec)


def test_builtin_pool_and_composition() -> None:
    pool = {a.id: a for a in builtin_pool()}
    assert pool["tag_format.tagged"].template == "<query>{prompt}</query>"
    assert pool["system_prompt.b"].system == "You are an AI model." and pool["system_prompt.b"].deterministic
    assert not pool["language.fr"].deterministic and "French" in pool["language.fr"].text
    assert not any(a.id.endswith((".plain", ".none", ".en")) for a in pool.values())  # baselines
    chosen = [pool["tag_format.tagged"], pool["metadata.present"], pool["system_prompt.b"]]
    user, system = compose(chosen, "Q?")
    assert user == "[Location: Oslo | Local time: 09:12]\n<query>Q?</query>"
    assert system == "You are an AI model."


def test_hold_out_is_half_the_seeds_and_stable() -> None:
    spec = SearchSpec.model_validate({**BASE, "seed_prompts": [f"p{i}?" for i in range(10)]})
    searched, held = split_prompts(spec)
    assert len(searched) == len(held) == 5 and not set(searched) & set(held)
    assert split_prompts(spec) == (searched, held)


def test_plans_draw_by_weight_are_seeded_and_capped() -> None:
    pool = [Attribute(f"a{i}", f"A{i}", template="{prompt}!") for i in range(10)]
    spec = SearchSpec.model_validate({**BASE, "budget": {"max_attributes_per_candidate": 3}})
    flat = weights(pool, [])
    buffer = [Candidate(0, 0, i, ["a3"], 0, score=100.0) for i in range(5)]
    w = weights(pool, buffer)
    assert w[3] == 500.0 and sum(w) == 500.0 and sum(flat) == 0
    plans = [plan(spec, pool, w, (0, 1, i), 4) for i in range(400)]
    assert plans == [plan(spec, pool, w, (0, 1, i), 4) for i in range(400)]  # same seed, same plans
    assert all(1 <= len(p.attributes) <= 3 for p in plans)
    drawn = Counter(a for p in plans for a in p.attributes)
    assert drawn["a3"] > 0.6 * 400 and drawn["a3"] > 3 * max(v for k, v in drawn.items() if k != "a3")
    uniform = Counter(a for i in range(400) for a in plan(spec, pool, flat, (0, 0, i), 4).attributes)
    assert max(uniform.values()) < 2.5 * min(uniform.values())


def test_committed_search_schemas_are_current() -> None:
    from app.core.behaviours.rubric import Rubric

    for name, model, flag in (("search-spec", SearchSpec, ""), ("search-result", SearchResult, " --result"),
                              ("rubric", Rubric, " --rubric")):
        committed = json.loads((DOCS / f"{name}.schema.json").read_text())
        assert committed == model.model_json_schema(), (
            f"regenerate: surfturf search schema{flag} > docs/{name}.schema.json")
