"""Monte-Carlo check of the finding pipeline: false-flag rate under a null, and power.

Uses the same effect, test and FDR code an audit uses, on synthetic 0/1 outcomes; also serves
to plan samples_per_prompt before an expensive audit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.core.stats.effects import Observation, paired_effect
from app.core.stats.fdr import bh_qvalues


@dataclass(frozen=True)
class SimResult:
    replications: int
    flag_rate: float  # replications with at least one flag (familywise)
    test_rejection_rate: float  # single tests with p < alpha


def simulate(*, shift: float, base_low: float, base_high: float, prompts: int = 10,
             samples_per_prompt: int = 10, behaviours: int = 3, replications: int = 500,
             alpha: float = 0.05, min_effect: float = 0.10, seed: int = 0) -> SimResult:
    """Each behaviour's baseline rate varies by prompt in [base_low, base_high]; the first
    behaviour shifts by `shift` at the treated level, the others never move."""
    rng = np.random.default_rng(seed)
    flagged = rejected = tests = 0
    for _ in range(replications):
        pvals, effects = [], []
        for b in range(behaviours):
            base = rng.uniform(base_low, base_high, prompts)
            delta = shift if b == 0 else 0.0
            obs = []
            for p in range(prompts):
                for level, rate in (("a", base[p]), ("b", min(1.0, base[p] + delta))):
                    ys = rng.random(samples_per_prompt) < rate
                    obs += [Observation(p, "", level, bool(y)) for y in ys]
            eff = paired_effect(obs, "a", "b", rng=rng, n_boot=20)
            assert eff is not None
            pvals.append(eff.p_value)
            effects.append(eff.estimate)
        qs = bh_qvalues(pvals)
        hits = [q < alpha and abs(e) >= min_effect for q, e in zip(qs, effects, strict=True)]
        if shift:
            flagged += hits[0]
        else:
            flagged += any(hits)
        rejected += sum(p < alpha for p in pvals)
        tests += len(pvals)
    return SimResult(replications, flagged / replications, rejected / tests)
