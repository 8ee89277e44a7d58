"""Bradley-Terry salience ranking of features from pairwise conflicts.

A conflict: for one base prompt and behaviour, the feature whose level shift moves the behaviour
more wins. Strengths are a ridge-regularised logistic fit (statsmodels), centred at zero, with a
bootstrap-over-prompts interval.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import statsmodels.api as sm

# (prompt, behaviour) → feature → |effect| for that prompt
Strengths = dict[tuple[int, str], dict[str, float]]


def _comparisons(table: Strengths, keys: list[tuple[int, str]], features: list[str]) -> tuple:
    rows, ys = [], []
    index = {f: i for i, f in enumerate(features)}
    for key in keys:
        eff = table[key]
        for fa, fb in combinations(sorted(eff), 2):
            if eff[fa] == eff[fb]:
                continue
            x = np.zeros(len(features))
            x[index[fa]], x[index[fb]] = 1.0, -1.0
            rows.append(x)
            ys.append(1.0 if eff[fa] > eff[fb] else 0.0)
    return np.array(rows), np.array(ys)


def _fit(x: np.ndarray, y: np.ndarray, ridge: float) -> np.ndarray:
    model = sm.GLM(y, x, family=sm.families.Binomial())
    params = np.asarray(model.fit_regularized(alpha=ridge, L1_wt=0.0).params)
    return params - params.mean()


def bradley_terry(table: Strengths, features: list[str], *, rng: np.random.Generator,
                  n_boot: int = 200, ridge: float = 0.01, alpha: float = 0.05) -> list[dict[str, object]]:
    """Features ranked strongest first, each with strength, CI, wins and comparisons."""
    keys = sorted(table)
    if len(features) < 2 or not keys:
        return []
    x, y = _comparisons(table, keys, features)
    if len(y) == 0:
        return []
    point = _fit(x, y, ridge)
    prompts = sorted({k[0] for k in keys})
    boots = []
    for _ in range(n_boot):
        chosen = rng.choice(prompts, size=len(prompts), replace=True)
        bkeys = [k for p in chosen for k in keys if k[0] == p]
        bx, by = _comparisons(table, bkeys, features)
        if len(by):
            boots.append(_fit(bx, by, ridge))
    arr = np.array(boots) if boots else np.tile(point, (1, 1))
    lo, hi = np.quantile(arr, [alpha / 2, 1 - alpha / 2], axis=0)
    wins = {f: 0 for f in features}
    games = {f: 0 for f in features}
    for row, won in zip(x, y, strict=True):
        a, b = int(np.argmax(row)), int(np.argmin(row))
        games[features[a]] += 1
        games[features[b]] += 1
        wins[features[a if won else b]] += 1
    out = [{"feature": f, "strength": float(point[i]), "ci_low": float(lo[i]), "ci_high": float(hi[i]),
            "wins": wins[f], "comparisons": games[f]} for i, f in enumerate(features)]
    return sorted(out, key=lambda r: -float(r["strength"]))  # type: ignore[arg-type]
