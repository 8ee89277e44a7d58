"""The paired comparison's contract: what must match, what may differ (and is said), prompts
matched by text, and a difference that is the candidate's effect minus the baseline's."""

from __future__ import annotations

import numpy as np
import pytest

from app.core.surf import simulation as sim
from app.core.surf.compare import SpecMismatch, compare
from app.core.surf.samples import Sample
from app.core.surf.spec import ProbeSpec

SC = sim.Scenario(prompts=8, planted={("nuisance", "l1", 0): 0.4})


def _spec(**over: object) -> ProbeSpec:
    return ProbeSpec.model_validate({**SC.spec(3).model_dump(mode="json"), **over})


def _samples(spec: ProbeSpec, seed: int) -> list[Sample]:
    return sim.draw(SC, spec, np.random.default_rng(seed))


def test_the_difference_is_candidate_minus_baseline_and_sampling_differences_are_said() -> None:
    a = _spec()
    b = _spec(design={**a.design.model_dump(mode="json"), "seed": 99, "temperature": 0.7})
    doc = compare(a, _samples(a, 1), b, _samples(b, 2))
    assert doc.sampling_differences == {"seed": [7, 99], "temperature": [1.0, 0.7]}
    assert doc.prompts.paired == 8 and not doc.prompts.common_only
    for f in doc.findings:
        assert f.difference is not None and f.baseline_effect is not None and f.candidate_effect is not None
        # every prompt answered every cell: the paired mean is the difference of the two means
        assert f.difference == pytest.approx(f.candidate_effect - f.baseline_effect)
        assert f.ci_low is not None and f.ci_high is not None and f.ci_low <= f.difference <= f.ci_high
        assert f.ci_adj_low is not None and f.ci_adj_low <= f.ci_low  # the FCR interval is wider
    swapped = compare(b, _samples(b, 2), a, _samples(a, 1))
    by_key = {(f.feature, f.level, f.behaviour): f.difference for f in swapped.findings}
    for f in doc.findings:
        assert by_key[(f.feature, f.level, f.behaviour)] == pytest.approx(-(f.difference or 0.0))


def test_what_must_match_is_named() -> None:
    a = _spec()
    with pytest.raises(SpecMismatch, match="alpha: 0.05 in the baseline, 0.1 in the candidate"):
        compare(a, [], _spec(alpha=0.1), [])
    fewer = {k: v for k, v in a.model_dump(mode="json")["behaviours"].items() if k == "b0"}
    with pytest.raises(SpecMismatch, match="behaviours differ: b1"):
        compare(a, [], _spec(behaviours=fewer), [])
    other = _spec(prompts=[f"p{i}" for i in range(2, 10)])
    with pytest.raises(SpecMismatch, match=r"prompts differ \(8 in the baseline, 8 in the candidate, 6 in "
                       r"both\); compare those in both with --common-prompts"):
        compare(a, [], other, [])


def test_common_prompts_pairs_by_text_not_position() -> None:
    a = _spec()
    shifted = _spec(prompts=[f"p{i}" for i in range(2, 10)])  # p2..p7 in both, at other positions
    base = _samples(a, 3)
    # the candidate's samples of p2..p7 are the baseline's own, moved to the candidate's positions
    cand = [Sample(s.cell, s.prompt_index - 2, s.sample_index, s.messages, s.response, s.scores, s.error)
            for s in base if s.prompt_index >= 2]
    doc = compare(a, base, shifted, cand, common_prompts=True)
    assert (doc.prompts.paired, doc.prompts.baseline_only, doc.prompts.candidate_only) == (6, 2, 2)
    assert doc.prompts.common_only
    for f in doc.findings:  # the same samples on the paired prompts: no change at all
        assert f.difference == pytest.approx(0.0) and f.verdict in ("unchanged", "inconclusive")
