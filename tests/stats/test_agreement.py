"""Judge agreement: kappas from statsmodels, intervals from a bootstrap over prompts that covers
a known agreement level in simulation."""

from __future__ import annotations

import numpy as np

from app.core.stats.agreement import agreement


def judged(rng: np.random.Generator, flip: float, raters: int, prompts: int = 30, per: int = 6
           ) -> tuple[np.ndarray, np.ndarray]:
    """Each response has a true verdict (its prompt's own rate); each rater flips it with `flip`."""
    rate = rng.beta(2, 2, prompts)
    truth = rng.random((prompts, per)) < rate[:, None]
    v = np.repeat(truth.reshape(-1, 1), raters, axis=1) ^ (rng.random((prompts * per, raters)) < flip)
    return v.astype(int), np.repeat(np.arange(prompts), per)


def test_kappa_falls_with_noise_and_its_interval_covers_a_population_value() -> None:
    rng = np.random.default_rng(3)
    big, groups = judged(rng, 0.1, 2, prompts=3000)  # a population-sized draw: the "true" kappa
    truth = agreement(big, groups, rng=rng, n_boot=20).value
    assert truth is not None and 0.5 < truth < 0.75  # 1 - 2*0.1 flips, diluted by chance agreement
    covered = 0
    for _ in range(100):
        v, p = judged(rng, 0.1, 2)
        a = agreement(v, p, rng=rng, n_boot=300)
        assert a.statistic == "cohen_kappa" and a.responses == 180 and a.prompts == 30
        covered += a.ci_low <= truth <= a.ci_high  # type: ignore[operator]
    assert covered >= 90, covered
    noisy = agreement(*judged(rng, 0.3, 3), rng=rng, n_boot=200)
    clean = agreement(*judged(rng, 0.02, 3), rng=rng, n_boot=200)
    assert noisy.statistic == "fleiss_kappa" and noisy.value < clean.value  # type: ignore[operator]
    assert clean.raw_agreement > noisy.raw_agreement


def test_no_variation_has_no_kappa_but_a_raw_agreement() -> None:
    v = np.ones((12, 3), dtype=int)
    a = agreement(v, np.repeat(np.arange(4), 3), rng=np.random.default_rng(0))
    assert a.value is None and a.ci_low is None and a.raw_agreement == 1.0
