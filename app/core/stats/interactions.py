"""Feature × feature interactions on the rate scale, with prompt-level inference.

A linear probability model y ~ prompt + A*B + (every other feature), fitted by OLS (statsmodels):
prompt fixed effects absorb each prompt's baseline, the other features are held fixed, and the
A×B terms are differences in rate differences, the same scale as the findings. Errors are
clustered by prompt (CR1) with t(G-1) references, the small-sample correction Cameron & Miller
(2015) recommend for few clusters. A fit the design cannot support (constant outcome, rank-deficient
terms, no residual variation) is reported as not estimable, never as a coefficient.
"""

from __future__ import annotations

import warnings
from itertools import combinations
from typing import Any

import numpy as np


def _not_estimable(behaviour: str, pair: tuple[str, str], reason: str, clusters: int) -> dict[str, Any]:
    return {"behaviour": behaviour, "features": list(pair), "term": f"{pair[0]}:{pair[1]}",
            "estimable": False, "reason": reason, "coef": None, "ci_low": None, "ci_high": None,
            "p_value": 1.0, "clusters": clusters, "df": None}


def fit_interactions(rows: list[dict[str, Any]], features: list[str], behaviour: str,
                     alpha: float = 0.05) -> list[dict[str, Any]]:
    """rows: {"prompt": int, "y": 0/1, feature: level, ...}; one entry per interaction term."""
    import pandas as pd
    import statsmodels.formula.api as smf

    df = pd.DataFrame(rows)
    out: list[dict[str, Any]] = []
    if df.empty:
        return out
    names = {f: f"f{i}" for i, f in enumerate(features)}
    df = df.rename(columns=names)
    clusters = int(df["prompt"].nunique())
    varying = [f for f in features if df[names[f]].nunique() >= 2]
    for pair in combinations(features, 2):
        reason = None
        if pair[0] not in varying or pair[1] not in varying:
            reason = "a feature has one level in the answered samples"
        elif df["y"].nunique() < 2:
            reason = "the behaviour never varies"
        elif clusters < 3:
            reason = f"only {clusters} prompt(s); at least 3 are needed"
        if reason:
            out.append(_not_estimable(behaviour, pair, reason, clusters))
            continue
        a, b = names[pair[0]], names[pair[1]]
        others = " + ".join(f"C({names[f]})" for f in varying if f not in pair)
        formula = f"y ~ C(prompt) + C({a}) * C({b})" + (f" + {others}" if others else "")
        out += _fit(smf.ols(formula, df), df, behaviour, pair, (a, b), alpha, clusters)
    return out


def _fit(model: Any, df: Any, behaviour: str, pair: tuple[str, str], codes: tuple[str, str],
         alpha: float, clusters: int) -> list[dict[str, Any]]:
    terms = [i for i, t in enumerate(model.exog_names) if ":" in t]
    if np.linalg.matrix_rank(model.exog) < model.exog.shape[1]:
        return [_not_estimable(behaviour, pair, "the design cannot separate the interaction from "
                               "other terms (empty or collinear cells)", clusters)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a degenerate term's variance is NaN, caught below
        fit = model.fit(cov_type="cluster", cov_kwds={"groups": df["prompt"].to_numpy()}, use_t=True)
        if fit.ssr <= 1e-12 * max(1.0, float(np.sum((df["y"] - df["y"].mean()) ** 2))):
            return [_not_estimable(behaviour, pair, "the outcome is fully determined by the cells "
                                   "(no residual variation to test against)", clusters)]
        ci = np.asarray(fit.conf_int(alpha=alpha))
        bse, pvalues = np.asarray(fit.bse), np.asarray(fit.pvalues)
    out = []
    for i in terms:
        coef, se, p = float(fit.params.iloc[i]), float(bse[i]), float(pvalues[i])
        term = (model.exog_names[i].replace(f"C({codes[0]})", f"C({pair[0]})")
                .replace(f"C({codes[1]})", f"C({pair[1]})"))
        if not (np.isfinite(se) and se > 1e-9 and np.isfinite(p)):
            out.append({**_not_estimable(behaviour, pair, "no prompt-level variation in this term",
                                         clusters), "term": term})
            continue
        out.append({"behaviour": behaviour, "features": list(pair), "term": term, "estimable": True,
                    "reason": None, "coef": coef, "ci_low": float(ci[i, 0]), "ci_high": float(ci[i, 1]),
                    "p_value": p, "clusters": clusters, "df": int(fit.df_resid_inference)})
    return out
