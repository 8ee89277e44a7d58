"""Statistics against reference implementations and exact cases (fixed seeds)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from app.core.stats import sequential
from app.core.stats.decisions import FLAGGED, INCONCLUSIVE, NEGLIGIBLE, NOT_ESTIMABLE, decide
from app.core.stats.effects import Effect, NotEstimable, Observation, paired_effect
from app.core.stats.fdr import bh_qvalues
from app.core.stats.interactions import fit_interactions
from app.core.stats.ranking import bradley_terry
from app.core.stats.rates import clustered_rate, wilson


def test_wilson_matches_reference() -> None:
    r = wilson(8, 20)
    assert r.rate == 0.4
    assert r.ci_low == pytest.approx(0.2188, abs=1e-3) and r.ci_high == pytest.approx(0.6134, abs=1e-3)
    assert wilson(0, 0).rate is None
    zero = wilson(0, 50)
    assert zero.ci_low == 0 and 0 < zero.ci_high < 0.08


def test_clustered_rate_widens_with_clustering_and_only_then() -> None:
    spread = clustered_rate([5] * 10, [10] * 10)  # every prompt at 0.5: no excess clustering
    assert spread.design_effect == pytest.approx(1.0) and spread.clusters == 10
    clumped = clustered_rate([10] * 5 + [0] * 5, [10] * 10)  # prompts all-or-nothing
    assert clumped.rate == 0.5 and clumped.design_effect == pytest.approx(10 * 10 / 9, rel=1e-6)
    assert clumped.ci_high - clumped.ci_low > 2.5 * (spread.ci_high - spread.ci_low)
    assert 0 <= clumped.ci_low < 0.5 < clumped.ci_high <= 1
    # t(G-1) critical value: wider than the plain Wilson interval even with no clustering
    plain = wilson(50, 100)
    assert spread.ci_high - spread.ci_low > plain.ci_high - plain.ci_low  # type: ignore[operator]
    none = clustered_rate([0] * 8, [25] * 8)
    assert none.rate == 0 and none.ci_low == 0 and 0 < none.ci_high < 0.05  # type: ignore[operator]


def test_bh_matches_reference() -> None:
    q = bh_qvalues([0.01, 0.04, 0.03, 0.20])
    assert q == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.20])  # step-up: q(3)=min(q(3), q(2))
    assert bh_qvalues([]) == [] and bh_qvalues([float("nan")]) == [1.0]


def _obs(rates: dict[int, tuple[float, float]], n: int, rng: np.random.Generator,
         strata: tuple[str, ...] = ("",)) -> list[Observation]:
    out = []
    for p, (ra, rb) in rates.items():
        for st in strata:
            out += [Observation(p, st, "a", bool(v)) for v in rng.random(n) < ra]
            out += [Observation(p, st, "b", bool(v)) for v in rng.random(n) < rb]
    return out


def test_paired_effect_is_the_prompt_level_t_test() -> None:
    rng = np.random.default_rng(1)
    rates = {p: (float(r), float(r) + 0.1 * (p % 3 - 1)) for p, r in enumerate(rng.uniform(0.2, 0.6, 9))}
    eff = paired_effect(_obs(rates, 6, rng, strata=("x", "y")), "a", "b")
    assert isinstance(eff, Effect) and eff.n_prompts == 9 and eff.n_strata == 18 and eff.df == 8
    d = np.array([eff.per_prompt[p] for p in sorted(eff.per_prompt)])
    ref = stats.ttest_1samp(d, 0.0)
    assert eff.estimate == pytest.approx(d.mean()) and eff.p_value == pytest.approx(ref.pvalue)
    ci = ref.confidence_interval(0.95)
    assert eff.interval(0.95) == pytest.approx((ci.low, ci.high))
    lo99, hi99 = eff.interval(0.99)
    assert lo99 < ci.low and hi99 > ci.high


def test_paired_effect_holds_other_features_fixed() -> None:
    """Simpson setup: pooled rates would mislead; within-stratum differences do not."""
    rng = np.random.default_rng(1)
    obs = []
    for p in range(4):
        for stratum, (r, n_a, n_b) in {"x": (0.9, 90, 10), "y": (0.1, 10, 90)}.items():
            obs += [Observation(p, stratum, "a", bool(v)) for v in rng.random(n_a) < r]
            obs += [Observation(p, stratum, "b", bool(v)) for v in rng.random(n_b) < r]
    eff = paired_effect(obs, "a", "b")
    assert isinstance(eff, Effect) and abs(eff.estimate) < 0.15
    lo, hi = eff.interval(0.95)
    assert lo < 0 < hi


def test_identical_prompts_never_claim_a_zero_width_interval() -> None:
    obs = _obs({p: (0.0, 0.0) for p in range(8)}, 5, np.random.default_rng(0))
    eff = paired_effect(obs, "a", "b")
    assert isinstance(eff, Effect) and eff.estimate == 0 and eff.p_value == 1.0
    lo, hi = eff.interval(0.95)
    assert lo < -0.01 and hi > 0.01
    sure = paired_effect(_obs({p: (0.0, 1.0) for p in range(8)}, 25, np.random.default_rng(0)), "a", "b")
    assert isinstance(sure, Effect) and sure.interval(0.95)[0] > 0.9 and sure.interval(0.95)[1] == 1.0


def test_too_few_prompts_is_not_estimable_with_a_reason() -> None:
    eff = paired_effect(_obs({0: (0.1, 0.9), 1: (0.1, 0.9)}, 50, np.random.default_rng(0)), "a", "b")
    assert isinstance(eff, NotEstimable) and eff.n_prompts == 2 and "at least 3" in eff.reason
    none = paired_effect([Observation(0, "", "a", True)], "a", "b")
    assert isinstance(none, NotEstimable) and none.n_prompts == 0


def test_verdicts_agree_with_their_intervals() -> None:
    rng = np.random.default_rng(5)
    effects: list[Effect | NotEstimable] = [NotEstimable("only 2 prompt(s)", 2)]
    for shift in (0.0, 0.02, 0.05, 0.12, 0.3, -0.3, 0.6):
        rates = {p: (0.3, 0.3 + shift + rng.normal(0, 0.05)) for p in range(12)}
        effects.append(paired_effect(_obs(rates, 40, rng), "a", "b"))
    decisions, family = decide(effects, alpha=0.05, min_effect=0.10)
    assert family.size == 8 and decisions[0].outcome == NOT_ESTIMABLE and decisions[0].q_value == 1.0
    assert family.adj_level == pytest.approx(1 - max(family.selected, 1) * 0.05 / 8)
    seen = set()
    for e, d in zip(effects[1:], decisions[1:], strict=True):
        assert isinstance(e, Effect) and d.adj_low is not None and d.adj_high is not None
        seen.add(d.outcome)
        lo, hi = e.interval(0.95)
        assert d.adj_low <= lo and hi <= d.adj_high  # the adjusted interval is the wider one
        if d.outcome == FLAGGED:
            assert d.q_value <= 0.05 and (d.adj_low >= 0.10 or d.adj_high <= -0.10)
        elif d.outcome == NEGLIGIBLE:
            assert -0.10 <= d.adj_low and d.adj_high <= 0.10
        else:
            assert d.outcome == INCONCLUSIVE and d.adj_low < 0.10 and d.adj_high > -0.10
        if d.q_value <= 0.05:
            assert d.adj_low > 0 or d.adj_high < 0  # selected ⇒ the adjusted interval excludes 0
    assert seen == {FLAGGED, NEGLIGIBLE, INCONCLUSIVE}


def test_sequential_spending_adds_up_to_alpha() -> None:
    shares = [sequential.look_alpha(0.05, r, 6) for r in range(1, 7)]
    assert sum(shares) == pytest.approx(0.05) and shares == sorted(shares)
    assert sequential.rounds(25, 5) == 5 and sequential.rounds(26, 5) == 6
    assert sequential.samples_at(6, 5, 26) == 26
    with pytest.raises(ValueError):
        sequential.look_alpha(0.05, 7, 6)


def test_bradley_terry_orders_by_strength() -> None:
    rng = np.random.default_rng(3)
    contrasts = {}
    for b in ("emoji", "signoff"):
        for f, mean, sd in (("format", 0.8, 0.05), ("metadata", 0.4, 0.2), ("user_role", 0.0, 0.05)):
            contrasts[(b, f, "on")] = {p: float(mean + rng.normal(0, sd)) for p in range(12)}
    ranking = bradley_terry(contrasts, ["format", "metadata", "user_role"], rng=rng, n_boot=200)
    assert [r["feature"] for r in ranking] == ["format", "metadata", "user_role"]
    assert all(r["ci_low"] <= r["strength"] <= r["ci_high"] for r in ranking)
    assert ranking[0]["wins"] == 48 and ranking[0]["ci_low"] > 0  # type: ignore[operator]


def test_bradley_terry_orients_a_negative_effect_as_salient() -> None:
    """A feature that suppresses a behaviour moves it as much as one that elicits it."""
    rng = np.random.default_rng(4)
    contrasts = {("b", "down", "on"): {p: float(-0.6 + rng.normal(0, 0.05)) for p in range(10)},
                 ("b", "noise", "x"): {p: float(rng.normal(0, 0.05)) for p in range(10)},
                 ("b", "noise", "y"): {p: float(rng.normal(0, 0.05)) for p in range(10)}}
    ranking = bradley_terry(contrasts, ["down", "noise"], rng=rng, n_boot=100)
    assert ranking[0]["feature"] == "down"


def _rows(rng: np.random.Generator, interaction: float, prompts: int = 10, n: int = 10) -> list[dict]:
    rows = []
    for p in range(prompts):
        base = rng.uniform(0.1, 0.3)
        for a, b in ((0, 0), (0, 1), (1, 0), (1, 1)):
            rate = base + 0.2 * a + 0.1 * b + interaction * a * b
            rows += [{"prompt": p, "y": int(v), "A": f"a{a}", "B": f"b{b}", "C": f"c{i % 2}"}
                     for i, v in enumerate(rng.random(n) < rate)]
    return rows


def test_interaction_is_found_on_the_rate_scale_with_t_references() -> None:
    out = fit_interactions(_rows(np.random.default_rng(6), 0.4), ["A", "B", "C"], "x")
    ab = next(r for r in out if r["features"] == ["A", "B"])
    assert ab["estimable"] and ab["df"] == 9 and ab["clusters"] == 10
    assert ab["ci_low"] < 0.4 < ab["ci_high"] and ab["p_value"] < 0.01
    assert ab["term"] == "C(A)[T.a1]:C(B)[T.b1]"


def test_degenerate_interactions_are_not_estimable() -> None:
    rows = [{"prompt": p, "y": int(a == "a1" and b == "b1"), "A": a, "B": b}
            for p in range(6) for a in ("a0", "a1") for b in ("b0", "b1") for _ in range(3)]
    [det] = fit_interactions(rows, ["A", "B"], "x")
    assert not det["estimable"] and "determined" in det["reason"] and det["coef"] is None
    flat = [{**r, "y": 0} for r in rows]
    [const] = fit_interactions(flat, ["A", "B"], "x")
    assert not const["estimable"] and "never varies" in const["reason"]
    two = [r for r in rows if r["prompt"] < 2]
    assert "at least 3" in fit_interactions([{**r, "y": int(i % 2)} for i, r in enumerate(two)],
                                            ["A", "B"], "x")[0]["reason"]
    empty = [{**r, "y": int(i % 3 == 0)} for i, r in enumerate(rows)
             if (r["A"], r["B"]) != ("a1", "b1")]  # an empty cell: the A×B term is not identified
    [gap] = fit_interactions(empty, ["A", "B"], "x")
    assert not gap["estimable"] and "cannot separate" in gap["reason"]


def test_stacked_bradley_terry_fit_is_each_problem_fitted_alone() -> None:
    """The bootstrap fits every replicate in one scipy call; each must equal its own fit."""
    from app.core.stats.ranking import _fit

    rng = np.random.default_rng(1)
    wins = rng.integers(0, 20, size=(50, 4, 4)).astype(float)
    for w in wins:
        np.fill_diagonal(w, 0)
    alone = np.array([_fit(w, 0.01) for w in wins])
    assert np.abs(alone - _fit(wins, 0.01)).max() < 1e-4
    assert np.allclose(alone.sum(axis=1), 0)  # centred at zero


def test_bootstrap_wins_in_one_pass_equal_each_replicate_alone() -> None:
    """The bootstrap counts the conflicts of a stack of replicates at once (missing contrasts
    included); each must be what that replicate's weights give alone."""
    from app.core.stats.ranking import _wins

    rng = np.random.default_rng(4)
    d = rng.normal(size=(2, 3, 2, 12))  # behaviour, feature, level, prompt
    d[rng.random(d.shape) < 0.2] = np.nan
    weights = rng.multinomial(12, np.full(12, 1 / 12), size=40).astype(float)
    stacked = _wins(d, weights)
    assert stacked.shape == (40, 3, 3) and stacked.sum() > 0
    assert all(np.allclose(stacked[i], _naive_wins(d, w)) for i, w in enumerate(weights))
    assert not np.array_equal(stacked[0], stacked[1])  # replicates differ


def _naive_wins(d: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The cross-fitted conflicts written out loop by loop, as the module docstring states them."""
    n_b, n_f, n_l, n_p = d.shape
    won = np.zeros((n_f, n_f))
    for b in range(n_b):
        for p in range(n_p):
            x: dict[int, float] = {}
            for f in range(n_f):
                best = None  # (|loo|, level, loo) of the largest mean effect on the other prompts
                for lv in range(n_l):
                    others = [q for q in range(n_p) if q != p and not np.isnan(d[b, f, lv, q])]
                    if np.isnan(d[b, f, lv, p]) or sum(w[q] for q in others) == 0:
                        continue
                    loo = sum(w[q] * d[b, f, lv, q] for q in others) / sum(w[q] for q in others)
                    if best is None or abs(loo) > best[0]:
                        best = (abs(loo), lv, loo)
                if best is not None:
                    x[f] = (1.0 if best[2] >= 0 else -1.0) * d[b, f, best[1], p]
            for i in x:
                for j in x:
                    won[i, j] += w[p] * (x[i] > x[j])
    return won


def test_interactions_match_statsmodels_formula_interface() -> None:
    """The numpy design is patsy's: same terms, coefficients, intervals and p-values as
    smf.ols('y ~ C(prompt) + C(A) * C(B) + C(D)') with prompt-clustered errors."""
    import pandas as pd
    import statsmodels.formula.api as smf

    rng = np.random.default_rng(8)
    rows = [{"prompt": p, "y": int(rng.random() < 0.2 + 0.1 * a + 0.2 * (a == 2) * b),
             "A": f"a{a}", "B": f"b{b}", "D": f"d{rng.integers(2)}"}
            for p in range(8) for a in range(3) for b in range(2) for _ in range(6)]
    ours = {r["term"]: r for r in fit_interactions(rows, ["A", "B", "D"], "x")
            if r["features"] == ["A", "B"]}
    df = pd.DataFrame(rows)
    ref = smf.ols("y ~ C(prompt) + C(A) * C(B) + C(D)", df).fit(
        cov_type="cluster", cov_kwds={"groups": df["prompt"]}, use_t=True)
    terms = [t for t in ref.params.index if ":" in t]
    assert sorted(ours) == sorted(terms) == ["C(A)[T.a1]:C(B)[T.b1]", "C(A)[T.a2]:C(B)[T.b1]"]
    ci = ref.conf_int()
    for t in terms:
        assert ours[t]["coef"] == pytest.approx(ref.params[t], abs=1e-10)
        assert ours[t]["ci_low"] == pytest.approx(ci.loc[t, 0], abs=1e-10)
        assert ours[t]["p_value"] == pytest.approx(ref.pvalues[t], abs=1e-10)
