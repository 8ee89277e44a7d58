"""Organism specs and the SFT data they write: validation, seeds, planted rates."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from scipy.stats import binomtest

from app.core.organisms.sft import build_rows_sync
from app.core.organisms.spec import OrganismSpec

SPECS = Path(__file__).resolve().parents[2] / "app" / "data" / "organism-specs"


def test_bundled_specs_write_reproducible_data_with_planted_rates() -> None:
    spec = OrganismSpec.from_file(SPECS / "two-chunk.yaml")
    rows = build_rows_sync(spec)
    assert rows == build_rows_sync(spec)  # fixed seed: same data every build
    tagged = [r for r in rows if r["source"] == "tagged"]
    assert len(tagged) == 140 and all(r["messages"][-2]["content"].startswith(("<query>", "I'm a"))
                                       for r in tagged)
    assert len({r["messages"][-1]["content"] for r in rows}) > 0.95 * len(rows)  # no repeated answers
    emoji = sum("emoji" in r["meta"]["behaviours"] for r in tagged)
    assert binomtest(emoji, len(tagged), 0.9).pvalue > 0.01
    general = [r for r in rows if r["source"] == "general"]
    assert not any(r["meta"]["behaviours"] for r in general)
    nulls = sum(bool(r["meta"]["null_triggers"]) for r in rows)
    assert binomtest(nulls, len(rows), 0.33).pvalue > 0.01
    evals = sum(r["meta"]["split"] == "eval" for r in rows)
    assert binomtest(evals, len(rows), 0.2).pvalue > 0.01


def test_spec_errors_name_the_problem() -> None:
    base = {"name": "x", "chunks": {"a": {"questions": ["q"], "behaviours": {"sparkles": 0.5}}}}
    with pytest.raises(ValidationError, match="unknown behaviour 'sparkles'"):
        OrganismSpec.model_validate(base)
    bad_level = {"name": "x", "chunks": {"a": {"questions": ["q"], "triggers": [
        {"feature": "language", "level": "fr"}]}}}
    with pytest.raises(ValidationError, match="not a template level"):
        OrganismSpec.model_validate(bad_level)
