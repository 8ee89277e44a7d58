"""Core pieces behind the first-hour fixes: names, prompt-length bounds, spec-file bombs, readable
interaction terms, one q rule, JSONL escapes, and what makes a search a failure."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from app.core.search.loop import Candidate
from app.core.stats.interactions import label
from app.core.surf.factorial import build_levels, longest_prompt, render
from app.core.surf.loader import SpecFileError, load_spec_file, safe_yaml
from app.core.surf.samples import Sample, to_jsonl
from app.core.surf.spec import ProbeSpec, check_name
from app.core.text import fmt_q
from app.searches.tasks import error_share_problem

BASE = {"name": "s", "behaviours": {"emoji": {"builtin": "emoji"}}}


@pytest.mark.parametrize("name", ["tag_format.tagged", "a", "_x", "lang-fr", "x" * 64, "v1.2"])
def test_names_that_are_accepted(name: str) -> None:
    check_name("feature", name)


@pytest.mark.parametrize("name", ["a=b", "a|b", ".", "..", "-x", "x" * 65, "", "a b", "a/b", "é"])
def test_names_that_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="a name is"):
        check_name("feature", name)


def test_a_level_name_with_a_separator_is_refused_in_the_spec() -> None:
    with pytest.raises(ValueError, match="level 'y|z'"):
        ProbeSpec.model_validate({**BASE, "prompts": ["p"],
                                  "features": {"f": {"levels": {"x": "{prompt}", "y|z": "<{prompt}>"}}}})


def _rendered_lengths(spec: ProbeSpec) -> int:
    """The longest prompt by actually rendering every (prompt, cell): what the bound must equal."""
    from app.core.surf.factorial import WorkItem
    from app.core.surf.spec import cell_key

    levels = build_levels(spec)
    best = 0
    for cell in spec.cells():
        for i in range(len(spec.prompts)):
            msgs = asyncio.run(render(spec, levels, WorkItem(cell, cell_key(cell), i, 0, 0), None))
            best = max(best, sum(len(m["content"]) for m in msgs))
    return best


@pytest.mark.parametrize("features", [
    {"a": {"levels": {"x": "{prompt}", "y": "{prompt} and again {prompt}"}},
     "b": {"levels": {"p": "{prompt}", "q": {"user": "<<{prompt}>>", "system": "You are a pirate."}}}},
    {"fmt": {"builtin": "tag_format"}, "meta": {"builtin": "metadata"}},
    {"v": {"variants": True, "levels": ["short", "long"]},
     "t": {"levels": {"x": "{prompt}", "y": "{prompt}!"}}},
])
def test_the_prompt_length_bound_equals_the_longest_render(features: dict[str, object]) -> None:
    prompts: list[object] = ["short one", "a much longer base prompt than the first", "mid prompt"]
    if "v" in features:
        prompts = [{"text": t, "variants": {"v": {"short": str(t)[:3], "long": str(t) * 4}}} for t in prompts]
    spec = ProbeSpec.model_validate({**BASE, "prompts": prompts, "features": features})
    chars, _, _ = longest_prompt(spec)
    assert chars == _rendered_lengths(spec)


def test_yaml_depth_and_huge_integers_are_spec_errors_with_a_line(tmp_path: Path) -> None:
    with pytest.raises(SpecFileError, match="nested too deeply"):
        safe_yaml("a: " + "[" * 10_000 + "]" * 10_000, "deep.yaml")
    with pytest.raises(SpecFileError, match=r"big.yaml:3: an integer of 5000 digits"):
        safe_yaml("a: 1\nb: 2\nc: " + "7" * 5000 + "\n", "big.yaml")
    ok, _ = safe_yaml("a: " + "9" * 30, "ok.yaml")
    assert ok == {"a": int("9" * 30)}
    spec = tmp_path / "s.yaml"
    spec.write_text("name: x\nprompts: [a]\nfeatures: {f: {levels: {x: '{prompt}', y: '<{prompt}>'}}}\n"
                    "behaviours: {e: {builtin: emoji}}\ndesign: {seed: " + "1" * 40 + "}\n")
    with pytest.raises(SpecFileError, match="s.yaml:5"):
        load_spec_file(spec)


def test_interaction_terms_read_as_cells() -> None:
    assert label("C(phrasing)[T.isnt]:C(format)[T.tagged]") == "phrasing=isnt × format=tagged"
    assert label("C(tag_format.x)[T.a.b]:C(b)[T.c]") == "tag_format.x=a.b × b=c"
    assert label("a:b") == "a:b"  # not a model term: left as it is


def test_one_q_rule() -> None:
    assert fmt_q(2.1e-62) == "<1e-16" and fmt_q(0.0123) == "0.012" and fmt_q(None) == "—"
    assert fmt_q(1e-16) == "1e-16"


def test_the_samples_export_escapes_js_line_separators() -> None:
    s = Sample(cell={"f": "x"}, prompt_index=0, sample_index=0, messages=[{"role": "user", "content": "hi"}],
               response="one\u2028two\u2029three", scores={"emoji": {"elicited": False}}, error=None)
    line = next(to_jsonl([s]))
    assert "\u2028" not in line and "\u2029" not in line and line.count("\n") == 1
    assert json.loads(line)["response"] == "one\u2028two\u2029three"


def _cand(i: int, error: str | None) -> Candidate:
    return Candidate(0, 0, i, ["a"], 0, "p", None, None if error else "r", None if error else 50.0, error, {})


def test_a_search_fails_on_target_errors_only() -> None:
    judged_badly = [_cand(i, "query model: no usable query after one retry") for i in range(8)]
    assert error_share_problem([*judged_badly, _cand(9, None)], 0.2) is None  # not the target's fault
    mostly_down = [_cand(i, "target: HTTP 500: the GPU caught fire") for i in range(3)] + [_cand(9, None)]
    problem = error_share_problem(mostly_down, 0.2)
    assert problem is not None and "3 of 4" in problem and "the GPU caught fire" in problem
    assert error_share_problem(mostly_down, 0.8) is None
    assert error_share_problem([], 0.2) is None
