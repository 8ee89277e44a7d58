"""Paired effect of a feature level on a behaviour, holding prompt and other features fixed.

Strata are (base prompt, levels of every other feature). The effect is the mean over prompts of
the mean within-stratum rate difference; the CI is a two-stage cluster bootstrap (prompts, then
samples within cells); the p-value is the Cochran-Mantel-Haenszel test across strata.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.contingency_tables import StratifiedTable


@dataclass(frozen=True)
class Observation:
    prompt: int
    stratum: str  # levels of the other features
    level: str
    elicited: bool


@dataclass(frozen=True)
class Effect:
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    n_strata: int
    n_prompts: int
    n_a: int
    n_b: int
    per_prompt: dict[int, float]


def _counts(obs: list[Observation], a: str, b: str) -> dict[tuple[int, str], list[list[int]]]:
    """(prompt, stratum) → [[k_a, n_a], [k_b, n_b]], keeping strata where both levels appear."""
    table: dict[tuple[int, str], list[list[int]]] = defaultdict(lambda: [[0, 0], [0, 0]])
    for o in obs:
        if o.level in (a, b):
            cell = table[(o.prompt, o.stratum)][0 if o.level == a else 1]
            cell[0] += int(o.elicited)
            cell[1] += 1
    return {k: v for k, v in table.items() if v[0][1] and v[1][1]}


def cmh_pvalue(strata: list[list[list[int]]]) -> float:
    tables = []
    for (ka, na), (kb, nb) in strata:
        if 0 < ka + kb < na + nb:  # strata with a constant outcome carry no information
            tables.append(np.array([[kb, nb - kb], [ka, na - ka]], dtype=float))
    if not tables:
        return 1.0
    p = StratifiedTable(tables).test_null_odds(correction=False).pvalue
    return 1.0 if not np.isfinite(p) else float(p)


def paired_effect(obs: list[Observation], a: str, b: str, *, rng: np.random.Generator,
                  n_boot: int = 2000, alpha: float = 0.05) -> Effect | None:
    """Effect of level b versus baseline a; None when no stratum has both levels."""
    counts = _counts(obs, a, b)
    if not counts:
        return None
    by_prompt: dict[int, list[list[list[int]]]] = defaultdict(list)
    for (prompt, _), c in counts.items():
        by_prompt[prompt].append(c)
    prompts = sorted(by_prompt)
    prompt_points = {p: float(np.mean([kb / nb - ka / na for (ka, na), (kb, nb) in by_prompt[p]]))
                     for p in prompts}
    point = float(np.mean(list(prompt_points.values())))
    # Stage 2: resample samples within each cell (binomial draws = resampling 0/1 outcomes).
    # Rates are Jeffreys-smoothed so that a cell at 0/n or n/n still carries sampling noise.
    def draw(k: int, n: int) -> np.ndarray:
        return rng.binomial(n, (k + 0.5) / (n + 1), n_boot) / n - ((k + 0.5) / (n + 1) - k / n)

    per_prompt = np.empty((len(prompts), n_boot))
    for i, p in enumerate(prompts):
        diffs = [draw(kb, nb) - draw(ka, na) for (ka, na), (kb, nb) in by_prompt[p]]
        per_prompt[i] = np.mean(diffs, axis=0)
    # Stage 1: resample prompts.
    pick = rng.integers(0, len(prompts), size=(n_boot, len(prompts)))
    boot = per_prompt[pick, np.arange(n_boot)[:, None]].mean(axis=1)
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    n_a = sum(c[0][1] for c in counts.values())
    n_b = sum(c[1][1] for c in counts.values())
    return Effect(point, float(lo), float(hi), cmh_pvalue(list(counts.values())),
                  len(counts), len(prompts), n_a, n_b, prompt_points)
