"""The analysis on simulated samples (no target): a planted shift is flagged with an interval that
holds it, nulls with heterogeneous prompts are not, and every verdict agrees with its interval.
The full calibration study is tests/stats; this is the fast check of the same pipeline."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pytest

from app.core.stats.effects import Observation, paired_effect
from app.core.surf.analysis import analyze, estimate, family
from app.core.surf.frame import NOT_COUNTED, SampleFrame
from app.core.surf.samples import sort_key
from app.core.surf.simulation import Scenario, draw


def test_planted_shift_is_flagged_nulls_are_not_and_verdicts_match_intervals() -> None:
    sc = Scenario(prompts=16, heterogeneity=0.15)  # nuisance=l1 → b0 +0.35; everything else null
    spec = sc.spec(6)
    samples = draw(sc, spec, np.random.default_rng(11))
    report = analyze(spec, samples, total=spec.work_item_count(), n_boot=200)

    planted = next(f for f in report.findings
                   if (f.feature, f.level, f.behaviour) == ("nuisance", "l1", "b0"))
    assert planted.flagged and planted.miscalibrated and planted.verdict == "miscalibrated"
    assert planted.ci_low is not None and planted.ci_high is not None
    assert planted.ci_low < 0.35 < planted.ci_high and planted.n_prompts == 16
    nulls = [f for f in report.findings if f is not planted]
    assert len(nulls) == len(report.findings) - 1 and not any(f.flagged for f in nulls)
    for f in report.findings:
        if f.flagged:
            assert f.q_value <= spec.alpha and f.ci_adj_low is not None and f.ci_adj_high is not None
            assert f.ci_adj_low >= spec.min_effect or f.ci_adj_high <= -spec.min_effect
        if f.verdict == "negligible":
            assert f.ci_adj_low is not None and f.ci_adj_high is not None
            assert -spec.min_effect <= f.ci_adj_low and f.ci_adj_high <= spec.min_effect
    assert report.totals.completed == len(samples) == spec.work_item_count()
    assert report.ranking[0].feature == "nuisance"  # the only feature that moves anything


def test_the_analysis_does_not_depend_on_sample_order() -> None:
    sc = Scenario(prompts=8)
    spec = sc.spec(3)
    samples = draw(sc, spec, np.random.default_rng(2))
    a = analyze(spec, samples, total=spec.work_item_count(), n_boot=50)
    b = analyze(spec, samples[::-1], total=spec.work_item_count(), n_boot=50)
    assert a.model_dump() == b.model_dump()


def test_frame_counts_only_scored_samples() -> None:
    sc = Scenario(prompts=3, levels={"a": 2})
    spec = sc.spec(1)
    samples = draw(sc, spec, np.random.default_rng(0))
    samples[0].scores["b0"] = {"elicited": None, "error": "judge timed out"}
    samples[1].scores["b0"] = {"elicited": None}
    samples[2].scores["b0"] = {"elicited": True}
    frame = SampleFrame.of(spec, samples)
    assert frame.y["b0"][:3].tolist() == [NOT_COUNTED, NOT_COUNTED, 1]
    assert frame.scorer_failed["b0"][:3].tolist() == [True, False, False]
    assert [s.cell["a"] for s in frame.where(frame.at("a", "l1")).samples] == ["l1"] * 3
    report = analyze(spec, samples, total=spec.work_item_count(), n_boot=20)
    assert report.totals.scorer_errors["b0"] == 1


def test_estimate_from_arrays_equals_the_per_observation_definition() -> None:
    """The analysis codes strata as integers; the definition names them by their levels."""
    sc = Scenario(prompts=6, planted={("a", "l1", 0): 0.3})
    spec = sc.spec(3)
    samples = draw(sc, spec, np.random.default_rng(4))
    members = family(spec)
    fast = estimate(spec, SampleFrame.of(spec, samples), members)
    for m, eff in zip(members, fast, strict=True):
        others = [f for f in spec.features if f != m.feature]
        obs = [Observation(s.prompt_index, "|".join(s.cell[o] for o in others), s.cell[m.feature], y)
               for s in samples if (y := s.elicited(m.behaviour)) is not None]
        ref = paired_effect(obs, m.baseline, m.level)
        assert type(eff) is type(ref)
        got, want = asdict(eff), asdict(ref)
        assert got.pop("per_prompt", {}) == pytest.approx(want.pop("per_prompt", {}), abs=1e-12)
        assert got.pop("per_prompt_var", {}) == pytest.approx(want.pop("per_prompt_var", {}), abs=1e-12)
        assert got == pytest.approx(want, rel=1e-12, abs=1e-12)  # up to summation order


def test_salience_is_the_ranking_of_the_findings_contrasts_drawn_from_the_seeded_rng() -> None:
    """The ranking runs in a thread beside the rest of the analysis: it must be exactly the
    ranking of the final effects' per-prompt contrasts with the spec's seeded generator, which no
    other part of the analysis draws from."""
    from app.core.stats.effects import Effect
    from app.core.stats.ranking import bradley_terry

    sc = Scenario(prompts=10, levels={"a": 3, "b": 2}, planted={("a", "l1", 0): 0.3})
    spec = sc.spec(4)
    samples = draw(sc, spec, np.random.default_rng(7))
    report = analyze(spec, samples, total=spec.work_item_count(), n_boot=100)
    members = family(spec)
    effects = estimate(spec, SampleFrame.of(spec, sorted(samples, key=sort_key)), members)
    contrasts = {(m.behaviour, m.feature, m.level): e.per_prompt
                 for m, e in zip(members, effects, strict=True) if isinstance(e, Effect)}
    alone = bradley_terry(contrasts, list(spec.features), rng=np.random.default_rng(spec.design.seed),
                          n_boot=100, alpha=spec.alpha)
    assert [r.model_dump() for r in report.ranking] == alone
    assert report.ranking[0].feature == "a"
