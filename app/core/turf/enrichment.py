"""Hit counts per group (chunk, prompt cluster, attribute) compared with base rates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from pydantic import BaseModel, Field
from scipy.stats import fisher_exact
from statsmodels.stats.contingency_tables import Table2x2

from app.core.stats.fdr import bh_qvalues
from app.core.stats.rates import wilson


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
    n_hit, n_all = len(groups_of_hits), len(groups_of_all)
    rows: list[dict[str, object]] = []
    ps: list[float] = []
    for g, b in base.items():
        h = hits.get(g, 0)
        table = np.array([[h, n_hit - h], [b - h, (n_all - n_hit) - (b - h)]], dtype=float)
        p = float(fisher_exact(table, alternative="greater")[1]) if n_hit else 1.0
        t = Table2x2(table + (0.5 if (table == 0).any() else 0.0))
        lo, hi = t.oddsratio_confint(alpha=alpha)
        hr, br = wilson(h, n_hit), wilson(b, n_all)
        rows.append({"family": family, "group": g, "hits": h, "n_hits": n_hit, "base": b, "n_all": n_all,
                     "hit_share": hr.rate, "hit_share_ci": [hr.ci_low, hr.ci_high],
                     "base_share": br.rate, "base_share_ci": [br.ci_low, br.ci_high],
                     "odds_ratio": float(t.oddsratio), "odds_ratio_ci": [float(lo), float(hi)],
                     "p_value": p})
        ps.append(p)
    groups = [Group.model_validate({**r, "q_value": q, "significant": q < alpha})
              for r, q in zip(rows, bh_qvalues(ps), strict=True)]
    return sorted(groups, key=Group.rank)
