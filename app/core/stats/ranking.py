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
from scipy import stats
from scipy.optimize import minimize
from scipy.special import expit, log_expit

# (behaviour, feature, level) → prompt → that prompt's effect of level vs baseline
Contrasts = dict[tuple[str, str, str], dict[int, float]]
BOOT_CELLS = 250_000  # elements of the largest array in one pass of _wins: a few MB, in cache


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
    """W[i, j]: weighted conflicts feature i won against j, contrasts cross-fitted under `weights`
    (one prompt-weight vector, or a stack W[n, i, j] for weights[n, prompt]: the bootstrap's
    replicates in one pass of array operations instead of one pass each)."""
    w = np.atleast_2d(weights)[:, None, None, None, :]  # (n, 1, 1, 1, prompt)
    present = ~np.isnan(d)
    vals = np.where(present, d, 0.0)
    cw = w * present  # copies of each prompt that carry each contrast
    total, count = (vals * cw).sum(-1, keepdims=True), cw.sum(-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        loo = (total - vals * cw) / (count - cw)  # mean over the other prompts (all copies left out)
    loo = np.where(present & (count - cw > 0), loo, np.nan)
    usable = ~np.isnan(loo)
    best = np.argmax(np.where(usable, np.abs(loo), -1.0), axis=3)[:, :, :, None, :]  # (n, b, f, 1, p)
    sign = np.where(np.take_along_axis(loo, best, 3)[:, :, :, 0] >= 0, 1.0, -1.0)
    x = sign * np.take_along_axis(np.broadcast_to(vals, loo.shape), best, 3)[:, :, :, 0]
    ok = np.take_along_axis(usable, best, 3)[:, :, :, 0]  # (n, b, f, p)
    won = ok[:, :, :, None, :] & ok[:, :, None, :, :] & (x[:, :, :, None, :] > x[:, :, None, :, :])
    out = np.asarray((won * w).sum(axis=(1, 4)), float)  # (n, f, f)
    return out if weights.ndim == 2 else out[0]


def _fit(w: np.ndarray, ridge: float, start: np.ndarray | None = None) -> np.ndarray:
    """Strengths for one win matrix W[k, k], or for a stack W[n, k, k] of independent ones.

    A stack is one L-BFGS-B run over the concatenated strengths: the problems share no
    parameter, so the summed loss separates and its minimiser is every problem's own, in one
    scipy call instead of one per bootstrap replicate."""
    stack = w if w.ndim == 3 else w[None]
    n, k = stack.shape[0], stack.shape[1]
    lam = ridge * np.maximum(stack.sum(axis=(1, 2)), 1.0)[:, None]

    def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
        theta = flat.reshape(n, k)
        diff = theta[:, :, None] - theta[:, None, :]
        ll = float(np.sum(stack * log_expit(diff)))
        g = stack * expit(-diff)
        grad = g.sum(axis=2) - g.sum(axis=1)
        penalty = float(np.sum(lam / 2 * theta * theta))
        return -ll + penalty, (-grad + lam * theta).ravel()

    x0 = np.zeros((n, k)) if start is None else np.broadcast_to(start, (n, k))
    theta = minimize(loss, np.ascontiguousarray(x0).ravel(), jac=True, method="L-BFGS-B",
                     options={"ftol": 1e-12, "gtol": 1e-8}).x.reshape(n, k)
    theta = theta - theta.mean(axis=1, keepdims=True)
    return np.asarray(theta if w.ndim == 3 else theta[0])


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
    per = max(1, BOOT_CELLS // max(d.size * d.shape[1], 1))  # replicates per pass, memory-bounded
    boots = _fit(np.concatenate([_wins(d, counts[i:i + per]) for i in range(0, n_boot, per)]),
                 ridge, point)
    lo, hi = np.quantile(boots, [alpha / 2, 1 - alpha / 2], axis=0)
    out = [{"feature": f, "strength": float(point[i]), "ci_low": float(min(lo[i], point[i])),
            "ci_high": float(max(hi[i], point[i])), "wins": int(w[i].sum()),
            "comparisons": int(w[i].sum() + w[:, i].sum())} for i, f in enumerate(features)]
    return sorted(out, key=lambda r: -float(r["strength"]))  # type: ignore[arg-type]


def conflict_ranking(scores: dict[tuple[int, int], dict[int, float]], names: list[str], *,
                     rng: np.random.Generator, n_boot: int = 1000, ridge: float = 0.01,
                     alpha: float = 0.05) -> list[dict[str, object]]:
    """Bradley–Terry over direct conflicts: scores[(i, j)][prompt] > 0 when feature i won on that
    prompt (a tie is half a win each). The same prompts are asked in every conflict, so the
    bootstrap resamples prompts once for all pairs."""
    pairs = sorted(scores)
    prompts = sorted({p for d in scores.values() for p in d})
    if not pairs or len(prompts) < 2:
        return []
    won = np.full((len(pairs), len(prompts)), np.nan)
    for r, pair in enumerate(pairs):
        for c, p in enumerate(prompts):
            if p in scores[pair]:
                x = scores[pair][p]
                won[r, c] = 1.0 if x > 0 else 0.0 if x < 0 else 0.5

    def wins(weights: np.ndarray) -> np.ndarray:  # weights (n, prompt) → W (n, k, k)
        w = np.zeros((weights.shape[0], len(names), len(names)))
        present = ~np.isnan(won)
        for r, (i, j) in enumerate(pairs):
            w[:, i, j] = (weights[:, present[r]] * won[r, present[r]]).sum(axis=1)
            w[:, j, i] = (weights[:, present[r]] * (1 - won[r, present[r]])).sum(axis=1)
        return w

    g = len(prompts)
    w0 = wins(np.ones((1, g)))[0]
    point = _fit(w0, ridge)
    boots = _fit(wins(rng.multinomial(g, np.full(g, 1 / g), size=n_boot).astype(float)), ridge, point)
    # few prompts (8-10): a percentile interval is too narrow (it separated equal features in 38%
    # of simulated nulls); the bootstrap's standard error, scaled by g/(g-1), with t on g-1 df
    half = stats.t.ppf(1 - alpha / 2, g - 1) * boots.std(axis=0, ddof=1) * np.sqrt(g / (g - 1))
    out = [{"feature": f, "strength": float(point[i]), "ci_low": float(point[i] - half[i]),
            "ci_high": float(point[i] + half[i]), "wins": float(w0[i].sum()),
            "comparisons": float(w0[i].sum() + w0[:, i].sum())} for i, f in enumerate(names)]
    return sorted(out, key=lambda r: -float(r["strength"]))  # type: ignore[arg-type]
