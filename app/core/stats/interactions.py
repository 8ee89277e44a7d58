"""Feature × feature interactions on the rate scale, with prompt-level inference.

A linear probability model y ~ prompt + A*B + (every other feature), fitted by OLS (statsmodels):
prompt fixed effects absorb each prompt's baseline, the other features are held fixed, and the
A×B terms are differences in rate differences, the same scale as the findings. Errors are
clustered by prompt (CR1) with t(G-1) references, the small-sample correction Cameron & Miller
(2015) recommend for few clusters. A fit the design cannot support (constant outcome, rank-deficient
terms, no residual variation) is reported as not estimable, never as a coefficient.
"""

from __future__ import annotations

import re
import warnings
from itertools import combinations
from typing import Any

import numpy as np


def _not_estimable(behaviour: str, pair: tuple[str, str], reason: str, clusters: int) -> dict[str, Any]:
    return {"behaviour": behaviour, "features": list(pair), "term": f"{pair[0]}:{pair[1]}",
            "label": f"{pair[0]} × {pair[1]}",
            "estimable": False, "reason": reason, "coef": None, "ci_low": None, "ci_high": None,
            "p_value": 1.0, "clusters": clusters, "df": None}


def _dummies(values: np.ndarray) -> tuple[list[Any], np.ndarray]:
    """Treatment coding against the first level in sorted order (what patsy's C() does)."""
    levels, code = np.unique(values, return_inverse=True)
    return levels[1:].tolist(), (code[:, None] == np.arange(1, len(levels))).astype(float)


class _Design:
    """exog for y ~ C(prompt) + C(A) * C(B) + C(others…), built directly with numpy: the same
    columns and names statsmodels' formula interface would build, without parsing a formula
    and a data frame per fit (9 fits of 2k rows took ~1 s that way)."""

    def __init__(self, prompt: np.ndarray, y: np.ndarray, levels: dict[str, np.ndarray]) -> None:
        self.y = np.asarray(y, dtype=float)
        self.prompt = np.asarray(prompt)
        self.prompt_terms = _dummies(self.prompt)
        self.terms = {f: _dummies(np.asarray(v).astype(str)) for f, v in levels.items()}

    def exog(self, pair: tuple[str, str], others: list[str]) -> tuple[np.ndarray, list[str]]:
        blocks, names = [np.ones((len(self.y), 1))], ["Intercept"]

        def add(feature: str) -> tuple[list[Any], np.ndarray]:
            lv, m = self.terms[feature]
            blocks.append(m)
            names.extend(f"C({feature})[T.{x}]" for x in lv)
            return lv, m

        lp, mp = self.prompt_terms
        blocks.append(mp)
        names.extend(f"C(prompt)[T.{x}]" for x in lp)
        (la, ma), (lb, mb) = add(pair[0]), add(pair[1])
        blocks.append((ma[:, :, None] * mb[:, None, :]).reshape(len(self.y), -1))
        names.extend(f"C({pair[0]})[T.{a}]:C({pair[1]})[T.{b}]" for a in la for b in lb)
        for f in others:
            add(f)
        return np.hstack(blocks), names


def fit_interactions(rows: list[dict[str, Any]], features: list[str], behaviour: str,
                     alpha: float = 0.05) -> list[dict[str, Any]]:
    """rows: {"prompt": int, "y": 0/1, feature: level, ...}; one entry per interaction term."""
    return fit_interaction_arrays(np.array([r["prompt"] for r in rows]),
                                  np.array([r["y"] for r in rows], dtype=float),
                                  {f: np.array([str(r[f]) for r in rows]) for f in features},
                                  behaviour, alpha=alpha)


def fit_interaction_arrays(prompt: np.ndarray, y: np.ndarray, levels: dict[str, np.ndarray],
                           behaviour: str, alpha: float = 0.05) -> list[dict[str, Any]]:
    """One entry per interaction term of every pair of `levels`' features (in their order), from
    one array entry per sample: its prompt, 0/1 outcome, and level of each feature."""
    out: list[dict[str, Any]] = []
    if not len(y):
        return out
    features = list(levels)
    design = _Design(prompt, y, levels)
    clusters = len(np.unique(design.prompt))
    varying = [f for f in features if len(design.terms[f][0]) >= 1]
    for pair in combinations(features, 2):
        reason = None
        if pair[0] not in varying or pair[1] not in varying:
            reason = "a feature has one level in the answered samples"
        elif len(np.unique(design.y)) < 2:
            reason = "the behaviour never varies"
        elif clusters < 3:
            reason = f"only {clusters} prompt(s); at least 3 are needed"
        if reason:
            out.append(_not_estimable(behaviour, pair, reason, clusters))
            continue
        exog, names = design.exog(pair, [f for f in varying if f not in pair])
        out += _fit(design, exog, names, behaviour, pair, alpha, clusters)
    return out


_TERM = re.compile(r"C\((?P<feature>.+?)\)\[T\.(?P<level>.*?)\]")


def label(term: str) -> str:
    """`C(a)[T.x]:C(b)[T.y]` → `a=x × b=y`: how a reader names the cell the term measures."""
    parts = [m.groupdict() for m in map(_TERM.fullmatch, term.split(":")) if m is not None]
    return " × ".join(f"{p['feature']}={p['level']}" for p in parts) or term


def _fit(design: _Design, exog: np.ndarray, names: list[str], behaviour: str, pair: tuple[str, str],
         alpha: float, clusters: int) -> list[dict[str, Any]]:
    from statsmodels.regression.linear_model import OLS

    terms = [i for i, t in enumerate(names) if ":" in t]
    y = design.y
    with warnings.catch_warnings():
        # a degenerate term's variance is NaN, a rank-deficient design warns: both are caught below
        warnings.simplefilter("ignore")
        fit = OLS(y, exog).fit(cov_type="cluster", cov_kwds={"groups": design.prompt}, use_t=True)
        # the rank np.linalg.matrix_rank(exog) gives, from the SVD the fit already took
        s = fit.model.wexog_singular_values
        if np.sum(s > s.max() * max(exog.shape) * np.finfo(float).eps) < exog.shape[1]:
            return [_not_estimable(behaviour, pair, "the design cannot separate the interaction "
                                   "from other terms (empty or collinear cells)", clusters)]
        if fit.ssr <= 1e-12 * max(1.0, float(np.sum((y - y.mean()) ** 2))):
            return [_not_estimable(behaviour, pair, "the outcome is fully determined by the cells "
                                   "(no residual variation to test against)", clusters)]
        ci = np.asarray(fit.conf_int(alpha=alpha))
        params, bse, pvalues = np.asarray(fit.params), np.asarray(fit.bse), np.asarray(fit.pvalues)
    out = []
    for i in terms:
        coef, se, p = float(params[i]), float(bse[i]), float(pvalues[i])
        term = names[i]
        if not (np.isfinite(se) and se > 1e-9 and np.isfinite(p)):
            out.append({**_not_estimable(behaviour, pair, "no prompt-level variation in this term",
                                         clusters), "term": term, "label": label(term)})
            continue
        out.append({"behaviour": behaviour, "features": list(pair), "term": term, "label": label(term),
                    "estimable": True,
                    "reason": None, "coef": coef, "ci_low": float(ci[i, 0]), "ci_high": float(ci[i, 1]),
                    "p_value": p, "clusters": clusters, "df": int(fit.df_resid_inference)})
    return out
