"""The analysis on simulated samples (no target): a planted shift is flagged with an interval that
holds it, nulls with heterogeneous prompts are not, and every verdict agrees with its interval.
The full calibration study is tests/stats; this is the fast check of the same pipeline."""

from __future__ import annotations

import numpy as np

from app.core.surf.analysis import analyze
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
