"""The sweep's trend (random-effects meta-regression) by simulation: sweeps of organisms whose
effects differ by training noise (tau) beyond their prompt-level error, audited on the same prompts
(shared prompt effects), with and without a real slope. The null is not the easy case: a
fixed-effect fit of the same data, blind to training noise, rejects it far too often."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from app.core.stats.meta import meta_regression

ALPHA = 0.05
VALUES = np.repeat([0.0, 0.33, 0.67, 1.0], 2)  # 4 values × 2 seeds, as the full presence sweep


def sweep(rng: np.random.Generator, slope: float, tau: float, prompts: int = 8,
          spread: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """(effect, se) per organism: each prompt's effect = the organism's + the prompt's own
    (shared across organisms) + its sampling noise."""
    shared = rng.normal(0, spread, prompts)
    eff, se = [], []
    for x in VALUES:
        organism = 0.1 + slope * x + rng.normal(0, tau)
        per_prompt = organism + shared + rng.normal(0, 0.15, prompts)
        eff.append(per_prompt.mean())
        se.append(per_prompt.std(ddof=1) / math.sqrt(prompts))
    return np.array(eff), np.array(se)


def fixed_effect_p(x: np.ndarray, y: np.ndarray, se: np.ndarray) -> float:
    w = 1 / se**2
    design = np.column_stack([np.ones_like(x), x])
    cov = np.linalg.inv((design.T * w) @ design)
    beta = cov @ (design.T * w) @ y
    return float(2 * stats.norm.sf(abs(beta[1]) / math.sqrt(cov[1, 1])))


def run(slope: float, tau: float, trials: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    reject = cover = naive = 0
    for _ in range(trials):
        y, se = sweep(rng, slope, tau)
        t = meta_regression(VALUES, y, se)
        reject += t.p_value < ALPHA
        cover += t.ci_low <= slope <= t.ci_high
        naive += fixed_effect_p(VALUES, y, se) < ALPHA
        assert (t.p_value < ALPHA) == (t.ci_low > 0 or t.ci_high < 0)  # the test never contradicts its CI
    return {"reject": reject / trials, "coverage": cover / trials, "naive_reject": naive / trials}


@pytest.mark.slow
def test_null_trend_with_training_noise_is_rarely_flagged() -> None:
    res = run(slope=0.0, tau=0.15, trials=2000, seed=31)
    print("sweep trend null:", res)
    mc = 2 * math.sqrt(ALPHA * (1 - ALPHA) / 2000)
    assert res["reject"] <= ALPHA + mc, res
    assert res["coverage"] >= 1 - ALPHA - mc, res
    assert res["naive_reject"] > 3 * ALPHA, res  # not the easy null: blind to tau, a fit over-rejects


@pytest.mark.slow
def test_a_real_trend_is_found_and_covered() -> None:
    res = run(slope=0.5, tau=0.05, trials=1000, seed=32)
    print("sweep trend 0.5:", res)
    assert res["reject"] >= 0.8 and res["coverage"] >= 0.93, res


def test_tau_is_zero_when_points_agree_within_their_error_and_inputs_are_checked() -> None:
    x = np.array([0.0, 0.5, 1.0, 0.0, 0.5, 1.0])
    t = meta_regression(x, 0.2 + 0.6 * x, np.full(6, 0.05))
    assert t.tau2 == 0 and t.estimate == pytest.approx(0.6) and t.ci_low < 0.6 < t.ci_high
    with pytest.raises(ValueError, match="three points"):
        meta_regression([0.0, 1.0], [0.1, 0.2], [0.05, 0.05])
    with pytest.raises(ValueError, match="two values"):
        meta_regression([0.5, 0.5, 0.5], [0.1, 0.2, 0.3], [0.05, 0.05, 0.05])
