"""SURF's sampling rule for attribute records, checked against its statement (not its code):
k ~ Bin(5, 0.5) weighted draws from the buffer; one uniformly drawn record; a uniform 1-5 subset
of its attributes, each dropped with probability 0, 0, .2, .4, .6, .8 by k; capped at 5. Fixed
seeds: the draws are a function of (seed, run, iteration, index)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from scipy import stats

from app.core.llm.model_ref import parse_model
from app.core.search.loop import Candidate
from app.core.search.queries import parse_query, query_request
from app.core.search.records import attribute_id, from_rows
from app.core.search.sampling import EXCLUSION_BY_K, buffer_weights, plan_records
from app.core.search.spec import SearchSpec
from app.core.surf.spec import NAME_PATTERN

N_RECORDS = 12
DRAWS = 12_000


def _pool() -> Any:
    rows = [{"prompt": f"p{i}", "sae_attributes": [f"record {i} attribute {j}" for j in range(5)]}
            for i in range(N_RECORDS)]
    return from_rows(rows, "sae_attributes")


def _spec() -> SearchSpec:
    return SearchSpec.model_validate({"name": "s", "attribute_records": [{"sae_attributes": ["x"]}],
                                      "judge": {"behaviour": {"builtin": "emoji"}}, "seed": 4})


def _plans(pool: Any, w: dict[str, float]) -> list[dict[str, Any]]:
    spec = _spec()
    plans = [plan_records(spec, pool, w, (0, i // 100, i % 100), 0) for i in range(DRAWS)]
    return [{**(p.sampling or {}), "attributes": p.attributes} for p in plans]


def test_k_is_binomial_and_records_are_drawn_uniformly() -> None:
    plans = _plans(_pool(), {})
    ks = Counter(p["k"] for p in plans)
    expected = [DRAWS * stats.binom.pmf(k, 5, 0.5) for k in range(6)]
    assert stats.chisquare([ks[k] for k in range(6)], expected).pvalue > 0.001, ks
    per_record = Counter(p["record"] for p in plans)
    assert stats.chisquare([per_record[i] for i in range(N_RECORDS)]).pvalue > 0.001, per_record
    assert all(p["exclusion"] == EXCLUSION_BY_K[p["k"]] for p in plans)


def test_the_random_subset_size_follows_the_rule_given_k() -> None:
    """With an empty buffer every attribute is a record's: P(size = j | k) is a mixture over the
    uniform subset size m of Binomial(m, 1 - exclusion(k)), an empty draw keeping one."""
    plans = _plans(_pool(), {})
    for k in range(6):
        sizes = Counter(len(p["random"]) for p in plans if p["k"] == k)
        keep = 1 - EXCLUSION_BY_K[k]
        probs = [sum(stats.binom.pmf(j, m, keep) for m in range(1, 6)) / 5 for j in range(6)]
        probs[1] += probs[0]  # an empty draw keeps one of the record's attributes
        probs[0] = 0.0
        n = sum(sizes.values())
        observed = [sizes[j] for j in range(1, 6)]
        expected = [n * probs[j] for j in range(1, 6)]
        assert stats.chisquare(observed, expected).pvalue > 0.001, (k, sizes, expected)
    for p in plans:  # every random attribute is one of its record's
        assert all(p["texts"][a].startswith(f"record {p['record']} ") for a in p["random"])


def test_weighted_draws_follow_buffer_scores_and_duplicates_are_removed() -> None:
    pool = _pool()
    strong, weak = pool.attribute(0).id, pool.attribute(7).id
    buffer = [Candidate(0, 0, 0, [strong], 0, score=90.0), Candidate(0, 0, 1, [weak], 0, score=10.0),
              Candidate(0, 0, 2, [weak], 0, score=0.0)]  # a score of 0 adds no weight, as in SURF
    w = buffer_weights(buffer)
    assert w == {strong: 90.0, weak: 10.0}
    plans = _plans(pool, w)
    firsts = [p["weighted"][0] for p in plans if p["weighted"]]
    share = sum(f == strong for f in firsts)
    assert stats.binomtest(share, len(firsts), 0.9).pvalue > 0.001, share / len(firsts)
    for p in plans:
        assert len(p["attributes"]) == len(set(p["attributes"])) <= 5
        assert set(p["attributes"]) == set(p["weighted"]) | set(p["random"]) or len(p["attributes"]) == 5


def test_attribute_ids_are_stable_valid_feature_names() -> None:
    import re

    text = "The query is wrapped in <xml> tags, très poliment!"
    a = attribute_id(text)
    assert a == attribute_id(text) and re.match(NAME_PATTERN, a) and a.startswith("query-is-wrapped")
    assert attribute_id(text + " ") != a


def test_surfs_query_shape_keeps_the_querys_own_tags() -> None:
    pool = _pool()
    ask, params = query_request("surf", [pool.attribute(0)], None)
    assert "<query_1></query_1>" in ask and params["stop"] == ["</query_1>"]
    assert "- record 0 attribute 0" in ask and "version of this message" not in ask
    stopped = "<query_1>Summarise <doc>The <b>tide</b> tables</doc> for me"  # cut at the stop sequence
    assert parse_query("surf", stopped) == "Summarise <doc>The <b>tide</b> tables</doc> for me"
    assert parse_query("surf", "<query_1> a </query_1><query_2>b</query_2>") == "a"
    assert parse_query("surf", "Sure! Here are five queries") is None  # counted, retried once
    ours, _ = query_request("surfturf", [pool.attribute(0)], "Why is the sky blue?")
    assert "Base it on this question: Why is the sky blue?" in ours
    assert parse_query("surfturf", '"Hello there"') == "Hello there"


@pytest.mark.parametrize("value, parsed", [
    ("http://127.0.0.1:8000/v1:meta-llama/Llama-3.1-8B",
     ("http://127.0.0.1:8000/v1", "meta-llama/Llama-3.1-8B")),
    ("https://host/v1:qwen2:7b", ("https://host/v1", "qwen2:7b")),
    ("smollm2", (None, "smollm2")),
    ("anthropic:claude-opus", (None, "anthropic:claude-opus")),  # the Messages API: the client splits it
])
def test_surfs_model_strings(value: str, parsed: tuple[str | None, str]) -> None:
    assert parse_model(value) == parsed


@pytest.mark.parametrize("value, said", [
    ("gemini:gemini-2.5-pro", "not spoken here"), ("http://127.0.0.1:8000", "needs its model")])
def test_model_strings_we_do_not_speak_say_so(value: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        parse_model(value)


def test_a_saved_pool_plans_the_same_candidates_after_a_reload(tmp_path: Any) -> None:
    """What a resumed search relies on: the worker's memory-mapped copy draws what the first did."""
    from app.core.search.records import RecordPool

    pool = _pool()
    pool.save(tmp_path / "records")
    again = RecordPool.load(tmp_path / "records")
    assert again.describe() == pool.describe() and again.prompt(3) == "p3"
    spec = _spec()
    first = [plan_records(spec, pool, {}, (1, 2, i), 0) for i in range(50)]
    second = [plan_records(spec, again, {}, (1, 2, i), 0) for i in range(50)]
    assert first == second
    avoid = ["record 0 attribute 3"]  # only record 0 carries it: its prompt comes last, if at all
    assert "p0" not in again.held_out(avoid, N_RECORDS - 1, 0, 1000)
    assert again.held_out(avoid, N_RECORDS, 0, 1000)[-1] == "p0"
