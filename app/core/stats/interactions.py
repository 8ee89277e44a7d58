"""Feature × feature interactions: logistic model with prompt-clustered errors (statsmodels).

Falls back to a linear probability model when the logistic fit separates (rates at 0 or 1),
and says which model it used.
"""

from __future__ import annotations

import warnings
from itertools import combinations

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning


def fit_interactions(rows: list[dict[str, object]], features: list[str], behaviour: str,
                     alpha: float = 0.05) -> list[dict[str, object]]:
    """rows: {"prompt": int, "y": 0/1, feature: level, ...}; one entry per interaction term."""
    df = pd.DataFrame(rows)
    if df.empty or df["y"].nunique() < 2 or df["prompt"].nunique() < 2:
        return []
    names = {f: f"f{i}" for i, f in enumerate(features)}
    df = df.rename(columns=names)
    out: list[dict[str, object]] = []
    for fa, fb in combinations(features, 2):
        a, b = names[fa], names[fb]
        if df[a].nunique() < 2 or df[b].nunique() < 2:
            continue
        formula = f"y ~ C({a}) * C({b})"
        fit, model = _fit(formula, df)
        if fit is None:
            continue
        ci = fit.conf_int(alpha=alpha)
        for term in fit.params.index:
            bounds = (ci.loc[term, 0], ci.loc[term, 1], fit.params[term])
            if ":" not in term or not np.all(np.isfinite(bounds)):
                continue  # a term the design cannot estimate (e.g. an empty cell) is left out
            out.append({
                "behaviour": behaviour, "features": [fa, fb],
                "term": term.replace(a, fa).replace(b, fb),
                "model": model, "coef": float(fit.params[term]),
                "ci_low": float(ci.loc[term, 0]), "ci_high": float(ci.loc[term, 1]),
                "p_value": float(fit.pvalues[term]) if np.isfinite(fit.pvalues[term]) else 1.0,
                "clusters": int(df["prompt"].nunique()),
            })
    return out


def _fit(formula: str, df: pd.DataFrame) -> tuple[object | None, str]:
    groups = df["prompt"].to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            fit = smf.logit(formula, df).fit(disp=0, cov_type="cluster", cov_kwds={"groups": groups})
            if np.all(np.isfinite(fit.bse)) and fit.mle_retvals.get("converged", False):
                return fit, "logit"
        except Exception:  # separation or singular design: use the LPM below
            pass
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # degenerate cells give NaN errors, dropped
        try:
            return smf.ols(formula, df).fit(cov_type="cluster", cov_kwds={"groups": groups}), "lpm"
        except Exception:
            return None, "none"
