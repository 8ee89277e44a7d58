"""How far a judge agrees with itself (re-judging the same response) and with a second judge:
Fleiss' kappa over the repeats and Cohen's kappa between the two judges (statsmodels), each with
a percentile bootstrap over prompts, since a prompt's responses are judged alike more often than
responses to different prompts."""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass

import numpy as np
from statsmodels.stats.inter_rater import cohens_kappa, fleiss_kappa


@dataclass(frozen=True)
class Agreement:
    statistic: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    raw_agreement: float  # share of responses on which every verdict is the same
    responses: int
    prompts: int

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _fleiss(v: np.ndarray) -> float:
    """v: responses × raters of 0/1."""
    ones = v.sum(axis=1)
    table = np.column_stack([v.shape[1] - ones, ones])
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        return float(fleiss_kappa(table))


def _cohen(v: np.ndarray) -> float:
    """v: responses × 2 of 0/1."""
    table = np.zeros((2, 2))
    np.add.at(table, (v[:, 0].astype(int), v[:, 1].astype(int)), 1)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore")
        return float(cohens_kappa(table, return_results=False))


def agreement(verdicts: np.ndarray, prompts: np.ndarray, *, rng: np.random.Generator, n_boot: int = 500,
              alpha: float = 0.05) -> Agreement:
    """`verdicts`: responses × raters (0/1); two raters → Cohen's kappa, more → Fleiss'."""
    v = np.asarray(verdicts, dtype=float)
    stat = _cohen if v.shape[1] == 2 else _fleiss
    name = "cohen_kappa" if v.shape[1] == 2 else "fleiss_kappa"
    raw = float(np.mean(np.all(v == v[:, :1], axis=1))) if len(v) else 0.0
    groups = np.unique(prompts)
    if len(v) < 2:
        return Agreement(name, None, None, None, raw, len(v), len(groups))
    point = stat(v)
    rows = [np.flatnonzero(prompts == g) for g in groups]
    boots = []
    for _ in range(n_boot):
        pick = np.concatenate([rows[i] for i in rng.integers(0, len(rows), len(rows))])
        boots.append(stat(v[pick]))
    b = np.array(boots)
    b = b[np.isfinite(b)]
    if not np.isfinite(point) or len(b) < n_boot // 2:  # no variation to agree about
        value = point if np.isfinite(point) else None
        return Agreement(name, value, None, None, raw, len(v), len(groups))
    lo, hi = np.quantile(b, [alpha / 2, 1 - alpha / 2])
    return Agreement(name, point, float(min(lo, point)), float(max(hi, point)), raw, len(v), len(groups))
