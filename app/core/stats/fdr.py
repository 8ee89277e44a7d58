"""Benjamini-Hochberg over a family of tests."""

from __future__ import annotations

import numpy as np
from statsmodels.stats.multitest import multipletests


def bh_qvalues(pvalues: list[float]) -> list[float]:
    if not pvalues:
        return []
    p = np.nan_to_num(np.asarray(pvalues, dtype=float), nan=1.0)
    return [float(q) for q in multipletests(p, method="fdr_bh")[1]]
