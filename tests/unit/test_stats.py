"""Statistics against reference values and by simulation (fixed seeds)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import binom

from app.core.stats.effects import Observation, cmh_pvalue, paired_effect
from app.core.stats.fdr import bh_qvalues
from app.core.stats.ranking import bradley_terry
from app.core.stats.rates import wilson
from app.core.stats.simulation import simulate


def test_wilson_matches_reference() -> None:
    r = wilson(8, 20)
    assert r.rate == 0.4
    assert r.ci_low == pytest.approx(0.2188, abs=1e-3) and r.ci_high == pytest.approx(0.6134, abs=1e-3)
    assert wilson(0, 0).rate is None
    zero = wilson(0, 50)
    assert zero.ci_low == 0 and 0 < zero.ci_high < 0.08


def test_bh_matches_reference() -> None:
    q = bh_qvalues([0.01, 0.04, 0.03, 0.20])
    assert q == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20])  # step-up: q(3)=min(q(3), q(2))
    assert bh_qvalues([]) == [] and bh_qvalues([float("nan")]) == [1.0]


def test_cmh_constant_strata_carry_no_information() -> None:
    assert cmh_pvalue([[[0, 10], [0, 10]], [[10, 10], [10, 10]]]) == 1.0
    assert cmh_pvalue([[[1, 50], [30, 50]]]) < 1e-6


def test_paired_effect_holds_other_features_fixed() -> None:
    """Simpson setup: pooled rates would mislead; within-stratum differences do not."""
    rng = np.random.default_rng(1)
    obs = []
    for stratum, (ra, rb, n_a, n_b) in {"x": (0.9, 0.9, 90, 10), "y": (0.1, 0.1, 10, 90)}.items():
        obs += [Observation(0, stratum, "a", bool(v)) for v in rng.random(n_a) < ra]
        obs += [Observation(0, stratum, "b", bool(v)) for v in rng.random(n_b) < rb]
    eff = paired_effect(obs, "a", "b", rng=rng)
    assert eff is not None and abs(eff.estimate) < 0.15 and eff.ci_low < 0 < eff.ci_high


def test_bootstrap_ci_covers_the_truth() -> None:
    rng = np.random.default_rng(2)
    covered, reps = 0, 200
    for _ in range(reps):
        obs = []
        for p in range(8):
            base = rng.uniform(0.1, 0.4)
            obs += [Observation(p, "", "a", bool(v)) for v in rng.random(25) < base]
            obs += [Observation(p, "", "b", bool(v)) for v in rng.random(25) < base + 0.2]
        eff = paired_effect(obs, "a", "b", rng=rng, n_boot=400)
        assert eff is not None
        covered += eff.ci_low <= 0.2 <= eff.ci_high
    assert covered / reps >= 0.88  # nominal 0.95, bootstrap with 8 clusters runs a little short


@pytest.mark.slow
def test_false_flag_rate_under_the_null_is_at_most_alpha() -> None:
    """500 replications of a 3-behaviour family, no effect anywhere, min_effect 0 so that only
    the test and BH stand between noise and a flag."""
    res = simulate(shift=0.0, base_low=0.05, base_high=0.6, replications=500, min_effect=0.0, seed=11)
    upper = binom.ppf(0.99, 500, 0.05) / 500  # alpha plus binomial error at 500 replications
    assert res.flag_rate <= upper, res
    assert res.test_rejection_rate <= upper, res


@pytest.mark.slow
def test_power_for_a_020_shift_at_100_samples_per_level() -> None:
    """10 prompts × 10 samples = 100 per level; baseline 0.05-0.15 shifted by +0.2."""
    res = simulate(shift=0.2, base_low=0.05, base_high=0.15, replications=500, seed=12)
    assert res.flag_rate >= 0.9, res


def test_bradley_terry_orders_by_strength() -> None:
    rng = np.random.default_rng(3)
    table = {}
    for p in range(12):
        for b in ("emoji", "signoff"):
            table[(p, b)] = {"format": 0.8 + rng.normal(0, 0.05), "metadata": 0.4 + rng.normal(0, 0.2),
                             "user_role": abs(rng.normal(0, 0.05))}
    ranking = bradley_terry(table, ["format", "metadata", "user_role"], rng=rng, n_boot=100)
    assert [r["feature"] for r in ranking] == ["format", "metadata", "user_role"]
    assert all(r["ci_low"] <= r["strength"] <= r["ci_high"] for r in ranking)
    assert ranking[0]["wins"] == 48
