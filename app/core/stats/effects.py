"""Paired effect of a feature level on a behaviour, with prompts as the unit of inference.

Prompts are a sample from the prompts a user cares about, so the estimand is the mean over prompts
of the per-prompt effect, and everything about it (interval, test, flag) comes from how that
effect varies between prompts. Within a prompt, strata are the levels of every other feature; the
per-prompt effect is the mean over strata of the rate difference. Inference is the one-sample
t-interval and t-test over prompts (df = prompts − 1), the reference method for clustered eval data
(Miller 2024, "Adding Error Bars to Evals"). When every prompt moved by exactly the same amount
(say 0/n against 0/n everywhere) the between-prompt variance is zero; the binomial sampling
variance each prompt's difference carries anyway (Jeffreys-smoothed) stands in for it, so no
finding claims a zero-width interval.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import stats

MIN_PROMPTS = 3  # below this a t(G-1) reference has under 2 df: the finding is "not estimable"


class Observation(NamedTuple):  # one sample's outcome, for callers without arrays (effect_of)
    prompt: int
    stratum: str  # levels of the other features
    level: str
    elicited: bool


@dataclass(frozen=True)
class Effect:
    """A prompt-level estimate; `interval` gives the t-interval at any confidence level."""

    estimate: float
    se: float
    df: int
    p_value: float
    n_strata: int
    n_prompts: int
    n_a: int
    n_b: int
    per_prompt: dict[int, float] = field(repr=False)
    per_prompt_var: dict[int, float] = field(default_factory=dict, repr=False)  # binomial, per prompt
    bound: float = 1.0  # |estimate| can be at most this: 1 for a rate difference, 2 for a change in one

    def interval(self, level: float) -> tuple[float, float]:
        half = float(stats.t.ppf(0.5 + level / 2, self.df)) * self.se
        return max(-self.bound, self.estimate - half), min(self.bound, self.estimate + half)


@dataclass(frozen=True)
class NotEstimable:
    reason: str
    n_prompts: int


def _binomial_var(k: np.ndarray, n: np.ndarray) -> np.ndarray:
    p = (k + 0.5) / (n + 1)
    return p * (1 - p) / n


def prompt_effects(prompt: np.ndarray, stratum: np.ndarray, at_b: np.ndarray, y: np.ndarray
                   ) -> tuple[dict[int, float], dict[int, float], int, int, int]:
    """Per-prompt effect (mean over strata of the rate difference) and its sampling variance, from
    one row per observation at either level; strata where only one level appears drop out.
    Also returns how many strata, and how many observations at each level, took part."""
    width = int(stratum.max()) + 1 if len(stratum) else 1
    cells, where = np.unique(prompt.astype(np.int64) * width + stratum, return_inverse=True)
    size, at_b = len(cells), at_b.astype(float)
    n_b = np.bincount(where, weights=at_b, minlength=size)
    n_a = np.bincount(where, minlength=size) - n_b
    k_b = np.bincount(where, weights=y * at_b, minlength=size)
    k_a = np.bincount(where, weights=y, minlength=size) - k_b
    both = (n_a > 0) & (n_b > 0)
    k_a, n_a, k_b, n_b = k_a[both], n_a[both], k_b[both], n_b[both]
    prompts, per = np.unique(cells[both] // width, return_inverse=True)
    strata = np.bincount(per, minlength=len(prompts))
    diff = np.bincount(per, weights=k_b / n_b - k_a / n_a, minlength=len(prompts)) / strata
    var = (np.bincount(per, weights=_binomial_var(k_a, n_a) + _binomial_var(k_b, n_b),
                       minlength=len(prompts)) / strata**2)
    keys = prompts.tolist()
    return (dict(zip(keys, diff.tolist(), strict=True)), dict(zip(keys, var.tolist(), strict=True)),
            len(k_a), int(n_a.sum()), int(n_b.sum()))


def paired_effect(obs: list[Observation], a: str, b: str) -> Effect | NotEstimable:
    """Effect of level b versus baseline a, or why it cannot be estimated."""
    mine = [o for o in obs if o.level in (a, b)]
    strata = {st: i for i, st in enumerate(dict.fromkeys(o.stratum for o in mine))}
    return effect_of(np.array([o.prompt for o in mine], dtype=np.int64),
                     np.array([strata[o.stratum] for o in mine], dtype=np.int64),
                     np.array([o.level == b for o in mine], dtype=bool),
                     np.array([o.elicited for o in mine], dtype=float), a, b)


def effect_of(prompt: np.ndarray, stratum: np.ndarray, at_b: np.ndarray, y: np.ndarray,
              a: str, b: str) -> Effect | NotEstimable:
    """Effect of level `b` versus baseline `a` from arrays, one entry per observation at either
    level: its prompt, its stratum (any integer code), whether it is at `b`, and 0/1 elicited."""
    diffs, variances, n_strata, n_a, n_b = prompt_effects(prompt, stratum, at_b, y)
    g = len(diffs)
    if g == 0:
        return NotEstimable(f"no prompt was answered at both {a!r} and {b!r}", 0)
    if g < MIN_PROMPTS:
        return NotEstimable(f"only {g} prompt(s) answered at both levels; at least {MIN_PROMPTS} are "
                            "needed for a prompt-level interval", g)
    est, se, p = t_over_prompts(np.fromiter(diffs.values(), float), np.fromiter(variances.values(), float))
    return Effect(est, se, g - 1, p, n_strata, g, n_a, n_b, diffs, variances)


def t_over_prompts(d: np.ndarray, sampling_var: np.ndarray) -> tuple[float, float, float]:
    """(mean, se, two-sided p) of per-prompt values (effects, their changes, their slopes), df =
    prompts − 1; when they all agree, their sampling variances stand in, never zero."""
    g = len(d)
    var = float(np.var(d, ddof=1))
    if var <= 1e-15:  # every prompt moved alike: fall back on the sampling variance, never on zero
        var = float(np.mean(sampling_var))
    se = float(np.sqrt(var / g))
    est = float(d.mean())
    return est, se, float(2 * stats.t.sf(abs(est) / se, g - 1)) if se > 0 else 1.0


def difference(baseline: Effect, candidate: Effect, pairs: dict[int, int]) -> Effect | NotEstimable:
    """Candidate minus baseline, paired by prompt: the mean over prompts of the per-prompt effect
    differences, with the t-interval and test over prompts. `pairs` maps a baseline prompt index
    to the candidate's index of the same prompt. A prompt's own persistent effect cancels in its
    difference; only how it changed between the two audits is left to vary."""
    both = [(a, b) for a, b in pairs.items() if a in baseline.per_prompt and b in candidate.per_prompt]
    g = len(both)
    if g < MIN_PROMPTS:
        return NotEstimable(f"only {g} prompt(s) have the effect estimated in both audits; at least "
                            f"{MIN_PROMPTS} are needed", g)
    d = np.array([candidate.per_prompt[b] - baseline.per_prompt[a] for a, b in both])
    var = np.array([baseline.per_prompt_var.get(a, 0.0) + candidate.per_prompt_var.get(b, 0.0)
                    for a, b in both])
    est, se, p = t_over_prompts(d, var)
    return Effect(est, se, g - 1, p, min(baseline.n_strata, candidate.n_strata), g,
                  baseline.n_a + baseline.n_b, candidate.n_a + candidate.n_b,
                  {a: float(x) for (a, _), x in zip(both, d, strict=True)},
                  {a: float(v) for (a, _), v in zip(both, var, strict=True)}, bound=2.0)
