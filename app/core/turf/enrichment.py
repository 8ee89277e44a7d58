"""Hit counts per group (chunk, prompt cluster, attribute) compared with base rates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from pydantic import BaseModel, Field
from scipy.stats import hypergeom, norm
from statsmodels.stats.proportion import proportion_confint

from app.core.stats.fdr import bh_qvalues


class Group(BaseModel):
    family: str = Field(description="chunk | cluster | attribute")
    group: str = Field(description="Chunk label, cluster label, or attribute.")
    hits: int = Field(description="Behaviour-positive examples in this group.")
    n_hits: int = Field(description="All behaviour-positive examples.")
    base: int = Field(description="Examples in this group.")
    n_all: int = Field(description="All examples.")
    hit_share: float | None = Field(description="hits / n_hits.")
    hit_share_ci: list[float | None] = Field(description="Wilson 95% CI of hit_share.")
    base_share: float | None = Field(description="base / n_all: the share expected by chance.")
    base_share_ci: list[float | None]
    odds_ratio: float = Field(description="Odds of the behaviour in vs out of the group.")
    odds_ratio_ci: list[float] = Field(description="95% CI (Woolf; +0.5 when a cell is empty).")
    p_value: float = Field(description="One-sided Fisher exact test for enrichment.")
    q_value: float = Field(description="BH over the groups of this family.")
    significant: bool

    def rank(self) -> tuple[float, int]:
        """Most enriched first: by the odds ratio's lower bound, then by hits."""
        return -self.odds_ratio_ci[0], -self.hits


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
    both against the scalar functions); scalar calls cost ~1 ms a group."""
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
