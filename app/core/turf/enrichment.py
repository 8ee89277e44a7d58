"""Hit counts per group (chunk, prompt cluster, attribute) compared with base rates."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
from scipy.stats import fisher_exact
from statsmodels.stats.contingency_tables import Table2x2

from app.core.stats.fdr import bh_qvalues
from app.core.stats.rates import wilson


def enrichment(groups_of_hits: Sequence[Iterable[str]], groups_of_all: Sequence[Iterable[str]],
               family: str, alpha: float = 0.05) -> list[dict[str, object]]:
    """For each group: hits, base count, hit share vs base share (Wilson CIs), odds ratio with CI
    (Haldane-corrected when a cell is empty), Fisher exact p and BH q; most enriched first."""
    hits = Counter(g for gs in groups_of_hits for g in set(gs))
    base = Counter(g for gs in groups_of_all for g in set(gs))
    n_hit, n_all = len(groups_of_hits), len(groups_of_all)
    rows = []
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
    for r, q in zip(rows, bh_qvalues([float(r["p_value"]) for r in rows]), strict=True):
        r["q_value"] = q
        r["significant"] = q < alpha
    rows.sort(key=lambda r: (-float(r["odds_ratio_ci"][0]), -int(r["hits"])))  # type: ignore[index]
    return rows
