"""The simulation suite: heterogeneous nulls, planted effects, salience and interaction nulls.

Every figure is asserted with its Monte-Carlo error: a rate that must stay at or below alpha may
exceed it by at most two Monte-Carlo standard errors (computed at alpha). Seeds are fixed, so a
run is reproducible; README's "What the numbers mean" quotes these figures.
"""

from __future__ import annotations

import math

import pytest

from app.core.surf import simulation as sim

pytestmark = pytest.mark.slow
ALPHA = 0.05


def at_most_alpha(t: sim.Tally, alpha: float = ALPHA) -> bool:
    return t.rate <= alpha + 2 * math.sqrt(alpha * (1 - alpha) / t.trials)


# Heterogeneous: each null level helps some prompts and hurts others (mean exactly zero), base
# rates are Beta, 2-5 samples per prompt per cell, three features (one with three levels), two
# behaviours, and a nuisance feature with a large real effect in the same family.
HETEROGENEOUS = sim.Scenario(heterogeneity=0.3, base=(2.0, 3.0))


def test_heterogeneous_null_per_test_rate_and_family_wise_flags() -> None:
    res = sim.findings(HETEROGENEOUS, 300, seed=101)
    print("heterogeneous null:", res)
    assert at_most_alpha(res["null_reject"]), res
    assert at_most_alpha(res["null_flag_any"]), res


def test_skewed_null_per_test_rate() -> None:
    """Per-prompt effects +c on 80% of prompts and -4c on the rest: mean zero, skewed."""
    res = sim.findings(sim.Scenario(heterogeneity=0.6, base=(2.0, 2.0), skewed=True), 300, seed=102)
    print("skewed null:", res)
    assert at_most_alpha(res["null_reject"]), res


def test_complete_null_family_wise_rate_with_no_min_effect() -> None:
    """No real effect anywhere and min_effect 0: only the test and BH stand between noise and a flag."""
    res = sim.findings(sim.Scenario(heterogeneity=0.3, base=(2.0, 3.0), planted={}, min_effect=0.0),
                       400, seed=103)
    print("complete null, min_effect 0:", res)
    assert at_most_alpha(res["null_flag_any"]), res
    assert at_most_alpha(res["null_reject"]), res


def test_coverage_width_and_power_for_planted_effects() -> None:
    sc = sim.Scenario(heterogeneity=0.15, base=(2.0, 3.0),
                      planted={("a", "l1", 0): 0.15, ("b", "l2", 1): 0.10, ("nuisance", "l1", 0): 0.25})
    res = sim.findings(sc, 400, seed=104)
    print("planted effects:", res)
    assert 0.93 <= res["covered"].rate <= 0.97, res
    assert res["width_ratio_vs_ttest"] <= 1.3, res
    # the same prompt-level test, so at least a plain t-test's power (up to Monte-Carlo error)
    assert res["power_reject"].rate >= res["ttest_reject"].rate - 2 * res["ttest_reject"].mc_se, res


def test_sequential_design_keeps_the_error_rate() -> None:
    sc = sim.Scenario(heterogeneity=0.3, base=(2.0, 3.0), samples=(10, 10), kind="sequential",
                      samples_per_round=2, min_effect=0.0)
    res = sim.findings(sc, 150, seed=105)
    print("sequential null:", res)
    assert at_most_alpha(res["null_flag_any"]), res
    assert res["power_flag"].rate >= 0.9, res


def test_salience_null_cannot_be_won_by_more_levels() -> None:
    sc = sim.Scenario(levels={"two": 2, "three": 3, "four": 4}, planted={}, heterogeneity=0.3,
                      base=(2.0, 3.0))
    res = sim.salience(sc, 150, seed=106, n_boot=200)
    print("salience null:", res)
    assert at_most_alpha(res["interval_excludes_0"]), res
    assert max(res["ranked_first"].values()) <= 0.5, res  # fair: about a third each


def test_salience_finds_a_real_effect() -> None:
    sc = sim.Scenario(levels={"two": 2, "three": 3, "four": 4}, planted={("two", "l1", 0): 0.3},
                      heterogeneity=0.15, base=(2.0, 3.0))
    res = sim.salience(sc, 60, seed=107, n_boot=200)
    print("salience with an effect:", res)
    assert res["ranked_first"]["two"] >= 0.8, res


def test_interaction_null_with_heterogeneous_main_effects() -> None:
    res = sim.interactions(HETEROGENEOUS, 100, seed=108)
    print("interaction null:", res)
    assert at_most_alpha(res["term_rejects"]), res
    assert res["not_estimable"].rate == 0, res


# Two checkpoints of one model: every level's per-prompt effect persists from baseline to
# candidate (heterogeneous, skewed), each changes per prompt by a mean-zero deviation, and the
# nuisance feature's large real effect is in both. Only a planted change is a real one.
CHECKPOINTS = sim.Scenario(heterogeneity=0.3, base=(2.0, 3.0), skewed=True, prompts=16,
                           planted={("nuisance", "l1", 0): 0.35})


def test_paired_comparison_null_changes_and_coverage() -> None:
    res = sim.changes(CHECKPOINTS, {}, 300, seed=201)
    print("checkpoints, no change:", res)
    assert at_most_alpha(res["null_reject"]), res
    assert at_most_alpha(res["null_called_any"]), res
    assert 0.93 <= res["covered"].rate <= 0.97, res


@pytest.mark.parametrize("reverse", [False, True])
def test_paired_comparison_finds_a_planted_change_in_either_direction(reverse: bool) -> None:
    """The nuisance effect falls by 0.3 (or, the checkpoints swapped, rises by 0.3)."""
    res = sim.changes(CHECKPOINTS, {("nuisance", "l1", 0): -0.3}, 300, seed=202 + reverse, reverse=reverse)
    print(f"checkpoints, planted change (reverse={reverse}):", res)
    assert 0.93 <= res["covered"].rate <= 0.97, res
    assert at_most_alpha(res["null_called_any"]), res
    # the paired test over prompts: at least a plain paired t-test's power, up to Monte-Carlo error
    assert res["power_reject"].rate >= res["ttest_reject"].rate - 2 * res["ttest_reject"].mc_se, res
    assert res["wrong_sign"].hits == 0 and res["power"].rate >= 0.5, res
