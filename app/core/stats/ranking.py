"""Bradley-Terry salience ranking of features that the number of levels cannot win.

A conflict: for one prompt and behaviour, the feature whose effect on that prompt is larger wins.
Each feature enters with one signed, level-matched contrast per prompt, chosen by cross-fitting:
the level and the direction are those of the largest mean effect on the *other* prompts, and the
contrast is this prompt's signed effect at that level. Under a null every contrast is then
symmetric around zero whatever its variance, so a feature with more (or noisier) levels wins half
its conflicts, not all of them; a real effect is picked and oriented by the other prompts.
Strengths are a ridge-penalised Bradley-Terry fit (scipy), centred at zero. The interval is a
percentile bootstrap over prompts of the whole procedure (cross-fitting included), since the
orientation itself is estimated from the prompts.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

# (behaviour, feature, level) → prompt → that prompt's effect of level vs baseline
Contrasts = dict[tuple[str, str, str], dict[int, float]]


def _array(contrasts: Contrasts, features: list[str]) -> tuple[np.ndarray, list[int]]:
    """D[behaviour, feature, level, prompt], NaN where a contrast is missing."""
    behaviours = sorted({b for b, _, _ in contrasts})
    prompts = sorted({p for d in contrasts.values() for p in d})
    levels: dict[str, list[str]] = {f: sorted({lv for _, ff, lv in contrasts if ff == f}) for f in features}
    width = max((len(v) for v in levels.values()), default=0)
    d = np.full((len(behaviours), len(features), max(width, 1), len(prompts)), np.nan)
    pos = {p: i for i, p in enumerate(prompts)}
    for (b, f, lv), per_prompt in contrasts.items():
        if f not in levels:
            continue
        for p, v in per_prompt.items():
            d[behaviours.index(b), features.index(f), levels[f].index(lv), pos[p]] = v
    return d, prompts


def _wins(d: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """W[i, j]: weighted conflicts feature i won against j, contrasts cross-fitted under `weights`."""
    present = ~np.isnan(d)
    vals = np.where(present, d, 0.0)
    cw = weights * present  # copies of each prompt that carry each contrast
    total, count = (vals * cw).sum(-1, keepdims=True), cw.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        loo = (total - vals * cw) / (count - cw)  # mean over the other prompts (all copies left out)
    loo = np.where(present & (count - cw > 0), loo, np.nan)
    usable = ~np.isnan(loo)
    best = np.argmax(np.where(usable, np.abs(loo), -1.0), axis=2)  # (b, f, p)
    pick = np.take_along_axis
    sign = np.where(pick(loo, best[:, :, None, :], 2)[:, :, 0] >= 0, 1.0, -1.0)
    x = sign * pick(vals, best[:, :, None, :], 2)[:, :, 0]
    ok = pick(usable, best[:, :, None, :], 2)[:, :, 0]
    both = ok[:, :, None, :] & ok[:, None, :, :]
    won = both & (x[:, :, None, :] > x[:, None, :, :])
    return np.asarray((won * weights).sum(axis=(0, 3)), float)


def _fit(w: np.ndarray, ridge: float, start: np.ndarray | None = None) -> np.ndarray:
    lam = ridge * max(float(w.sum()), 1.0)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        diff = theta[:, None] - theta[None, :]
        ll = float(np.sum(w * log_expit(diff)))
        g = w * expit(-diff)
        grad = g.sum(axis=1) - g.sum(axis=0)
        return -ll + lam / 2 * float(theta @ theta), -grad + lam * theta

    x0 = np.zeros(w.shape[0]) if start is None else start
    theta = minimize(loss, x0, jac=True, method="L-BFGS-B").x
    return np.asarray(theta - theta.mean())


def bradley_terry(contrasts: Contrasts, features: list[str], *, rng: np.random.Generator,
                  n_boot: int = 1000, ridge: float = 0.01, alpha: float = 0.05) -> list[dict[str, object]]:
    """Features ranked strongest first, each with strength, CI, wins and comparisons."""
    if len(features) < 2 or not contrasts:
        return []
    d, prompts = _array(contrasts, features)
    g = len(prompts)
    if g < 2:
        return []
    w = _wins(d, np.ones(g))
    if w.sum() == 0:
        return []
    point = _fit(w, ridge)
    counts = rng.multinomial(g, np.full(g, 1 / g), size=n_boot).astype(float)
    boots = np.array([_fit(_wins(d, c), ridge, point) for c in counts])
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2], axis=0)
    out = [{"feature": f, "strength": float(point[i]), "ci_low": float(min(lo[i], point[i])),
            "ci_high": float(max(hi[i], point[i])), "wins": int(w[i].sum()),
            "comparisons": int(w[i].sum() + w[:, i].sum())} for i, f in enumerate(features)]
    return sorted(out, key=lambda r: -float(r["strength"]))  # type: ignore[arg-type]
