"""Hit counts per group (chunk, prompt cluster, attribute) compared with base rates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from scipy.stats import hypergeom, norm
from statsmodels.stats.proportion import proportion_confint

from app.core.stats.fdr import bh_qvalues
from app.core.turf.result import Group


def enrichment(groups_of_hits: Sequence[Iterable[str]], groups_of_all: Sequence[Iterable[str]],
               family: str, alpha: float = 0.05) -> list[Group]:
    """For each group: hits, base count, hit share vs base share (Wilson CIs), odds ratio with CI
    (Haldane-corrected when a cell is empty), Fisher exact p and BH q; most enriched first."""
    hits = Counter(g for gs in groups_of_hits for g in set(gs))
    base = Counter(g for gs in groups_of_all for g in set(gs))
    names = list(base)
    return enrichment_counts(names, [hits.get(g, 0) for g in names], [base[g] for g in names],
                             len(groups_of_hits), len(groups_of_all), family, alpha)


def enrichment_counts(names: Sequence[str], hits: Sequence[int] | np.ndarray,
                      base: Sequence[int] | np.ndarray, n_hit: int,
                      n_all: int, family: str, alpha: float = 0.05) -> list[Group]:
    """`enrichment` from counts already made (GroupCodes): hits[i] of the n_hit positives and
    base[i] of all n_all rows are in group names[i]. Groups with no rows are left out.

    Every group of a family is computed at once: the one-sided Fisher p is the hypergeometric
    tail P(X ≥ hits) (scipy), the shares' intervals are statsmodels' Wilson over arrays, and the
    odds ratio's is Woolf's log-scale interval that statsmodels' Table2x2 gives (tests check
    both against the scalar functions), not one scalar call per group."""
    h, b = np.asarray(hits, dtype=float), np.asarray(base, dtype=float)
    keep = np.flatnonzero(b > 0)
    if len(keep) == 0:
        return []
    h, b = h[keep], b[keep]
    cells = np.stack([h, n_hit - h, b - h, (n_all - n_hit) - (b - h)], axis=1)
    p = hypergeom.sf(h - 1, n_all, b, n_hit) if n_hit else np.ones(len(h))
    cells = cells + np.where((cells == 0).any(axis=1, keepdims=True), 0.5, 0.0)  # Haldane
    log_or = np.log(cells[:, 0] * cells[:, 3] / (cells[:, 1] * cells[:, 2]))
    half = norm.ppf(1 - alpha / 2) * np.sqrt((1 / cells).sum(axis=1))
    hit_ci = _wilson(h, n_hit)
    base_lo, base_hi = proportion_confint(b, n_all, alpha=0.05, method="wilson")
    q = bh_qvalues([float(x) for x in p])
    groups = [Group(family=family, group=names[int(i)], hits=int(h[j]), n_hits=n_hit, base=int(b[j]),
                    n_all=n_all, hit_share=hit_ci[0][j], hit_share_ci=[hit_ci[1][j], hit_ci[2][j]],
                    base_share=float(b[j] / n_all), base_share_ci=[float(base_lo[j]), float(base_hi[j])],
                    odds_ratio=float(np.exp(log_or[j])),
                    odds_ratio_ci=[float(np.exp(log_or[j] - half[j])), float(np.exp(log_or[j] + half[j]))],
                    p_value=float(p[j]), q_value=q[j], significant=q[j] < alpha)
              for j, i in enumerate(keep)]
    return sorted(groups, key=Group.rank)


def _wilson(k: np.ndarray, n: int) -> tuple[list[float | None], list[float | None], list[float | None]]:
    """(shares, lows, highs) of k/n with Wilson intervals; None throughout when n is 0."""
    if n == 0:
        return [None] * len(k), [None] * len(k), [None] * len(k)
    lo, hi = proportion_confint(k, n, alpha=0.05, method="wilson")
    return [float(x) for x in k / n], [float(x) for x in lo], [float(x) for x in hi]
