"""The salience ranking over direct conflicts, by simulation: planted strengths come back in
order with intervals that cover them; with no feature stronger than another (each prompt's
conflicts still vary), intervals cover zero."""

from __future__ import annotations

from itertools import combinations

import numpy as np
from scipy.special import expit

from app.core.stats.ranking import conflict_ranking

NAMES = ["a", "b", "c", "d"]


def simulate(rng: np.random.Generator, theta: np.ndarray, prompts: int = 8,
             samples: int = 8) -> dict[tuple[int, int], dict[int, float]]:
    """Per prompt and pair: each side's behaviour rate in the both-features cell, from samples;
    prompts shift the odds (some questions invite one behaviour more), as real prompts do."""
    shift = rng.normal(0, 0.7, prompts)
    out: dict[tuple[int, int], dict[int, float]] = {}
    for i, j in combinations(range(len(theta)), 2):
        p = expit(theta[i] - theta[j] + shift * (1 if (i + j) % 2 else -1))
        a = rng.binomial(samples, p) / samples
        b = rng.binomial(samples, 1 - p) / samples
        out[(i, j)] = {k: float(a[k] - b[k]) for k in range(prompts)}
    return out


def test_planted_order_is_recovered() -> None:
    rng = np.random.default_rng(5)
    theta = np.array([1.5, 0.5, -0.5, -1.5])
    right = 0
    for _ in range(40):
        ranking = conflict_ranking(simulate(rng, theta), NAMES, rng=rng, n_boot=300)
        right += [r["feature"] for r in ranking] == NAMES
        top = ranking[0]
        assert top["ci_low"] <= top["strength"] <= top["ci_high"]
    assert right >= 30, right


def test_equal_features_are_not_told_apart() -> None:
    """Each interval excludes zero at about 5% (measured 4% over 200 runs); with prompt shifts
    that favour one side of some pairs, a percentile bootstrap over 8 prompts did in 38%."""
    rng = np.random.default_rng(6)
    trials, excluded = 100, 0
    for _ in range(trials):
        ranking = conflict_ranking(simulate(rng, np.zeros(4)), NAMES, rng=rng, n_boot=300)
        excluded += sum(r["ci_low"] > 0 or r["ci_high"] < 0 for r in ranking)
        assert sum(r["comparisons"] for r in ranking) == 2 * 6 * 8  # every conflict counted once per side
    rate = excluded / (4 * trials)
    assert rate <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / (4 * trials)), rate
