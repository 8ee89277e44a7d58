"""Elicitation rates with Wilson score intervals."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from statsmodels.stats.proportion import proportion_confint


@dataclass(frozen=True)
class Rate:
    k: int
    n: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def wilson(k: int, n: int, alpha: float = 0.05) -> Rate:
    """Wilson interval: honest near 0 and 1, where elicitation rates usually live."""
    if n == 0:
        return Rate(k, n, None, None, None)
    lo, hi = proportion_confint(k, n, alpha=alpha, method="wilson")
    return Rate(k, n, k / n, float(lo), float(hi))
