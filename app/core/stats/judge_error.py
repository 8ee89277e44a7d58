"""Scorers err: a judge (or a regex) with sensitivity se and specificity sp reports a rate p as
p·se + (1 − p)(1 − sp), so every rate difference shrinks by J = se + sp − 1 (Youden's J). When a
behaviour has a calibration (its scorer's verdicts on labelled responses), an effect is corrected
Rogan–Gladen's way, d / J, and its interval carries both errors: the prompts' (the effect's own
standard error) and the calibration's (J is estimated from a finite labelled set), by the delta
method with the effect's t reference. The correction assumes the scorer errs alike in every cell
(non-differential error); the test of "no effect" needs no correction (d = 0 iff d / J = 0), so a
verdict can read the raw interval and the corrected one says how large the effect really is."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

MIN_YOUDEN = 0.1  # below this the scorer barely separates the classes: d / J is noise


@dataclass(frozen=True)
class JudgeError:
    tp: int  # labelled positive, scored positive
    fn: int
    tn: int  # labelled negative, scored negative
    fp: int

    @property
    def sensitivity(self) -> float:
        return self.tp / max(self.tp + self.fn, 1)

    @property
    def specificity(self) -> float:
        return self.tn / max(self.tn + self.fp, 1)

    @property
    def youden(self) -> float:
        return self.sensitivity + self.specificity - 1

    def var_youden(self) -> float:
        """Binomial variances of the two proportions, each at (k + 1) / (n + 2) so a perfect
        score on a finite set still carries uncertainty."""
        def var(k: int, n: int) -> float:
            p = (k + 1) / (n + 2)
            return p * (1 - p) / max(n, 1)

        return var(self.tp, self.tp + self.fn) + var(self.tn, self.tn + self.fp)

    def intervals(self, alpha: float = 0.05) -> dict[str, list[float]]:
        """Wilson intervals of sensitivity and specificity."""
        se = proportion_confint(self.tp, max(self.tp + self.fn, 1), alpha=alpha, method="wilson")
        sp = proportion_confint(self.tn, max(self.tn + self.fp, 1), alpha=alpha, method="wilson")
        return {"sensitivity": [float(se[0]), float(se[1])], "specificity": [float(sp[0]), float(sp[1])]}

    def summary(self, alpha: float = 0.05) -> dict[str, object]:
        ci = self.intervals(alpha)
        return {"tp": self.tp, "fn": self.fn, "tn": self.tn, "fp": self.fp,
                "positives": self.tp + self.fn, "negatives": self.tn + self.fp,
                "sensitivity": self.sensitivity, "sensitivity_ci": ci["sensitivity"],
                "specificity": self.specificity, "specificity_ci": ci["specificity"],
                "youden": self.youden}


def corrected_effect(estimate: float, se: float, df: int, err: JudgeError, level: float
                     ) -> tuple[float, float, float] | None:
    """(corrected effect, low, high) at `level`, or None when the scorer is too poor to correct
    (J < MIN_YOUDEN)."""
    j = err.youden
    if j < MIN_YOUDEN:
        return None
    est = estimate / j
    var = se**2 / j**2 + estimate**2 * err.var_youden() / j**4
    half = float(stats.t.ppf(0.5 + level / 2, df)) * float(np.sqrt(var))
    return est, max(-1.0, est - half), min(1.0, est + half)
