"""A trend across organisms: random-effects meta-regression of per-organism effects on a sweep value.

Each point's effect comes with a standard error from the variation between its prompts. Points
are different fine-tunes, so beyond that error they differ by training noise (seed, data draw):
a fixed-effect fit would read that noise as signal. The between-organism variance tau² is
estimated by DerSimonian–Laird's moments for meta-regression, the line is refitted with weights
1/(se² + tau²), and its interval uses Knapp–Hartung's t with k − 2 df, the scale floored at 1
(never narrower than the weights alone say): with few points this is the honest, conservative
choice. The same prompts are audited at every point, so their shared prompt effects cancel in the
slope; treating the points as independent only widens its interval."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

METHOD = ("random-effects meta-regression of the effect on the sweep value: weights 1/(se² + tau²), "
          "tau² by DerSimonian–Laird, Knapp–Hartung t interval (k − 2 df, scale ≥ 1)")


@dataclass(frozen=True)
class Trend:
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    p_value: float
    intercept: float
    tau2: float
    points: int
    df: int
    method: str = METHOD

    def as_dict(self) -> dict[str, float | int | str]:
        return asdict(self)


def meta_regression(x: ArrayLike, effect: ArrayLike, se: ArrayLike, alpha: float = 0.05) -> Trend:
    x, y, s = (np.asarray(a, dtype=float) for a in (x, effect, se))
    k = len(y)
    if k < 3 or len(np.unique(x)) < 2:
        raise ValueError("a trend needs at least three points over at least two values")
    v = np.maximum(s, 1e-6) ** 2
    design = np.column_stack([np.ones(k), x])

    def fit(w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        xtw = design.T * w
        cov = np.linalg.inv(xtw @ design)
        beta = cov @ xtw @ y
        resid = y - design @ beta
        return beta, cov, float(np.sum(w * resid**2))

    w0 = 1 / v
    _, cov0, q = fit(w0)
    # DL for meta-regression: (Q_E - (k - p)) / (sum w - tr((X'WX)^-1 X'W²X))
    denom = float(np.sum(w0) - np.trace(cov0 @ (design.T * w0**2) @ design))
    tau2 = max(0.0, (q - (k - 2)) / denom) if denom > 0 else 0.0
    w = 1 / (v + tau2)
    beta, cov, q_w = fit(w)
    scale = max(1.0, q_w / (k - 2))
    slope_se = float(np.sqrt(cov[1, 1] * scale))
    t_crit = float(stats.t.ppf(1 - alpha / 2, k - 2))
    slope = float(beta[1])
    p = float(2 * stats.t.sf(abs(slope) / slope_se, k - 2)) if slope_se > 0 else 1.0
    return Trend(estimate=slope, se=slope_se, ci_low=slope - t_crit * slope_se,
                 ci_high=slope + t_crit * slope_se, p_value=p, intercept=float(beta[0]), tau2=tau2,
                 points=k, df=k - 2)
