"""Elicitation rates with Wilson intervals, widened for clustering by prompt.

Samples of one prompt are correlated (a prompt that elicits the behaviour tends to do so every
time), so a pooled rate over prompts has fewer effective samples than it has samples. The design
effect is the ratio of the cluster-robust variance of the pooled rate to the binomial one; the
Wilson interval is taken at the effective sample size n / deff with a t(G-1) critical value
(Korn & Graubard 1998), so it stays inside [0, 1] and honest near 0 and 1.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import proportion_confint


@dataclass(frozen=True)
class Rate:
    k: int
    n: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    clusters: int | None = None
    design_effect: float | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def wilson(k: int, n: int, alpha: float = 0.05) -> Rate:
    """Wilson interval for independent samples."""
    if n == 0:
        return Rate(k, n, None, None, None)
    lo, hi = proportion_confint(k, n, alpha=alpha, method="wilson")
    return Rate(k, n, k / n, float(lo), float(hi))


def clustered_rate(ks: Sequence[int] | np.ndarray, ns: Sequence[int] | np.ndarray,
                   alpha: float = 0.05) -> Rate:
    """Pooled rate of clusters (k_g elicited of n_g, one entry per prompt)."""
    k_arr, n_arr = np.asarray(ks, float), np.asarray(ns, float)
    keep = n_arr > 0
    k_arr, n_arr = k_arr[keep], n_arr[keep]
    g, k, n = len(n_arr), int(k_arr.sum()), int(n_arr.sum())
    if n == 0:
        return Rate(k, n, None, None, None, g, None)
    p = k / n
    deff = 1.0
    if g >= 2 and 0 < p < 1:
        robust = g / (g - 1) * float(np.sum((k_arr - p * n_arr) ** 2)) / n**2
        deff = max(1.0, robust / (p * (1 - p) / n))
    n_eff = n / deff
    lo, hi = proportion_confint(p * n_eff, n_eff, alpha=_normal_alpha(alpha, g), method="wilson")
    return Rate(k, n, p, float(lo), float(hi), g, deff)


@functools.lru_cache(maxsize=256)
def _normal_alpha(alpha: float, g: int) -> float:
    """The t(G-1) critical value, expressed as the alpha a normal-based Wilson interval needs.
    Cached: a report asks for it once per rate (dozens per cell table) with the same G."""
    return alpha if g < 2 else float(2 * stats.norm.sf(stats.t.ppf(1 - alpha / 2, g - 1)))
