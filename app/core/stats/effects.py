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

from collections import defaultdict
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from scipy import stats

MIN_PROMPTS = 3  # below this a t(G-1) reference has under 2 df: the finding is "not estimable"


class Observation(NamedTuple):  # a tuple: an analysis builds one per sample and behaviour
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

    def interval(self, level: float) -> tuple[float, float]:
        half = float(stats.t.ppf(0.5 + level / 2, self.df)) * self.se
        return max(-1.0, self.estimate - half), min(1.0, self.estimate + half)


@dataclass(frozen=True)
class NotEstimable:
    reason: str
    n_prompts: int


def _counts(obs: list[Observation], a: str, b: str) -> dict[tuple[int, str], list[list[int]]]:
    """(prompt, stratum) → [[k_a, n_a], [k_b, n_b]], keeping strata where both levels appear."""
    table: dict[tuple[int, str], list[list[int]]] = defaultdict(lambda: [[0, 0], [0, 0]])
    for o in obs:
        if o.level in (a, b):
            cell = table[(o.prompt, o.stratum)][0 if o.level == a else 1]
            cell[0] += int(o.elicited)
            cell[1] += 1
    return {k: v for k, v in table.items() if v[0][1] and v[1][1]}


def _binomial_var(k: int, n: int) -> float:
    p = (k + 0.5) / (n + 1)
    return p * (1 - p) / n


def prompt_effects(counts: dict[tuple[int, str], list[list[int]]]) -> tuple[dict[int, float],
                                                                               dict[int, float]]:
    """Per-prompt effect (mean over strata of the rate difference) and its sampling variance."""
    by_prompt: dict[int, list[list[list[int]]]] = defaultdict(list)
    for (prompt, _), c in counts.items():
        by_prompt[prompt].append(c)
    diffs, variances = {}, {}
    for p in sorted(by_prompt):
        strata = by_prompt[p]
        diffs[p] = float(np.mean([kb / nb - ka / na for (ka, na), (kb, nb) in strata]))
        variances[p] = sum(_binomial_var(ka, na) + _binomial_var(kb, nb)
                           for (ka, na), (kb, nb) in strata) / len(strata) ** 2
    return diffs, variances


def paired_effect(obs: list[Observation], a: str, b: str) -> Effect | NotEstimable:
    """Effect of level b versus baseline a, or why it cannot be estimated."""
    counts = _counts(obs, a, b)
    diffs, variances = prompt_effects(counts)
    g = len(diffs)
    if g == 0:
        return NotEstimable(f"no prompt was answered at both {a!r} and {b!r}", 0)
    if g < MIN_PROMPTS:
        return NotEstimable(f"only {g} prompt(s) answered at both levels; at least {MIN_PROMPTS} are "
                            "needed for a prompt-level interval", g)
    d = np.fromiter(diffs.values(), float)
    var = float(np.var(d, ddof=1))
    if var <= 1e-15:  # every prompt moved alike: fall back on the sampling variance, never on zero
        var = float(np.mean(list(variances.values())))
    se = float(np.sqrt(var / g))
    est = float(d.mean())
    p = float(2 * stats.t.sf(abs(est) / se, g - 1))
    n_a = sum(c[0][1] for c in counts.values())
    n_b = sum(c[1][1] for c in counts.values())
    return Effect(est, se, g - 1, p, len(counts), g, n_a, n_b, diffs)
