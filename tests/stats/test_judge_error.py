"""Effects corrected for judge error, by simulation: a judge with sensitivity 0.8 and specificity
0.9 shrinks every effect by 30%; the raw interval then misses the true effect, the corrected one
(Rogan–Gladen with the delta method over prompts and the calibration set) covers it 93–97%."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.core.stats.effects import Effect, effect_of
from app.core.stats.judge_error import JudgeError, corrected_effect


def one_audit(rng: np.random.Generator, delta: float, prompts: int = 20, n: int = 10,
              se: float = 0.8, sp: float = 0.9, cal: int = 150) -> tuple[Effect, JudgeError]:
    base = rng.beta(2, 5, prompts)
    het = rng.normal(0, 0.08, prompts)  # prompts differ in how much the trigger moves them
    p_b = np.clip(base + delta + het - het.mean(), 0, 1)
    rows = []
    for p, (pa, pb) in enumerate(zip(base, p_b, strict=True)):
        for at_b, rate in ((0, pa), (1, pb)):
            truth = rng.random(n) < rate
            judged = np.where(truth, rng.random(n) < se, rng.random(n) >= sp)
            rows += [(p, at_b, float(j)) for j in judged]
    arr = np.array(rows)
    eff = effect_of(arr[:, 0].astype(np.int64), np.zeros(len(arr), dtype=np.int64), arr[:, 1].astype(bool),
                    arr[:, 2], "a", "b")
    assert isinstance(eff, Effect)
    tp = int(rng.binomial(cal, se))
    tn = int(rng.binomial(cal, sp))
    return eff, JudgeError(tp=tp, fn=cal - tp, tn=tn, fp=cal - tn)


@pytest.mark.slow
@pytest.mark.parametrize("delta", [0.0, 0.3])
def test_corrected_intervals_cover_the_true_effect(delta: float) -> None:
    rng = np.random.default_rng(41 if delta else 42)
    trials, covered, raw_covered, corrected_sum = 1500, 0, 0, 0.0
    for _ in range(trials):
        eff, err = one_audit(rng, delta)
        # the true effect: what a perfect judge's rates would differ by (het is centred per draw)
        c = corrected_effect(eff.estimate, eff.se, eff.df, err, 0.95)
        assert c is not None
        covered += c[1] <= delta <= c[2]
        lo, hi = eff.interval(0.95)
        raw_covered += lo <= delta <= hi
        corrected_sum += c[0]
    cover = covered / trials
    print(f"delta {delta}: corrected coverage {cover:.3f}, raw {raw_covered / trials:.3f}, "
          f"mean corrected {corrected_sum / trials:+.3f}")
    assert 0.93 <= cover <= 0.97, cover
    if delta:
        assert raw_covered / trials < 0.7  # shrunk by 30%: the raw interval often misses the truth
        assert abs(corrected_sum / trials - delta) < 0.02


def test_a_judge_too_poor_to_correct_and_the_intervals_of_its_rates() -> None:
    assert corrected_effect(0.2, 0.05, 9, JudgeError(tp=5, fn=5, tn=5, fp=5), 0.95) is None
    err = JudgeError(tp=80, fn=20, tn=90, fp=10)
    assert err.youden == pytest.approx(0.7)
    ci = err.intervals()
    assert ci["sensitivity"][0] < 0.8 < ci["sensitivity"][1]
    assert ci["specificity"][0] < 0.9 < ci["specificity"][1]
    est, lo, hi = corrected_effect(0.21, 0.03, 19, err, 0.95) or (0, 0, 0)
    assert est == pytest.approx(0.3) and lo < 0.3 < hi and hi - lo > 2 * 1.96 * 0.03 / 0.7  # wider than se/J
    assert math.isclose(corrected_effect(0.0, 0.03, 19, err, 0.95)[0], 0.0)  # type: ignore[index]
