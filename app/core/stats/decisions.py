"""From a family of effects to verdicts that never contradict their intervals.

BH selects findings at FDR alpha over the whole family (fixed by the spec: not-estimable members
stay in it with p = 1). Every finding then gets a Benjamini-Yekutieli (2005) FCR-adjusted interval
at level 1 - R*alpha/m (R selected of m): for a selected finding that interval excludes 0 by
construction. The verdict reads that interval against the region of practical equivalence
[-min_effect, +min_effect] (an interval test in the TOST/ROPE sense): wholly beyond it and
selected → flagged; wholly inside it → negligible; straddling it → inconclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.stats.effects import Effect, NotEstimable
from app.core.stats.fdr import bh_qvalues

FLAGGED, NEGLIGIBLE, INCONCLUSIVE, NOT_ESTIMABLE = "flagged", "negligible", "inconclusive", "not estimable"


@dataclass(frozen=True)
class Decision:
    outcome: str  # FLAGGED | NEGLIGIBLE | INCONCLUSIVE | NOT_ESTIMABLE
    q_value: float
    adj_level: float
    adj_low: float | None
    adj_high: float | None

    @property
    def decided(self) -> bool:
        """Flagged and negligible are final; a sequential design samples more for the rest."""
        return self.outcome in (FLAGGED, NEGLIGIBLE)


@dataclass(frozen=True)
class Family:
    size: int
    selected: int
    adj_level: float


def _outcome(q: float, low: float, high: float, alpha: float, min_effect: float) -> str:
    beyond = (low > 0 and low >= min_effect) or (high < 0 and high <= -min_effect)
    if q <= alpha and beyond:
        return FLAGGED
    if min_effect > 0 and -min_effect <= low and high <= min_effect:
        return NEGLIGIBLE
    return INCONCLUSIVE


def decide(effects: list[Effect | NotEstimable], *, alpha: float,
           min_effect: float) -> tuple[list[Decision], Family]:
    """One decision per effect, in order, and the FDR family they were made in."""
    m = len(effects)
    qs = bh_qvalues([e.p_value if isinstance(e, Effect) else 1.0 for e in effects])
    selected = sum(q <= alpha for q in qs)
    level = 1 - max(selected, 1) * alpha / max(m, 1)
    out = []
    for e, q in zip(effects, qs, strict=True):
        if isinstance(e, NotEstimable):
            out.append(Decision(NOT_ESTIMABLE, q, level, None, None))
            continue
        low, high = e.interval(level)
        out.append(Decision(_outcome(q, low, high, alpha, min_effect), q, level, low, high))
    return out, Family(m, selected, level)
