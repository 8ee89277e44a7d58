"""The "before" column of README's simulation table: the previous statistics (CMH p, two-stage
bootstrap CI, flags on q and the point estimate, max-|effect| salience, logit interactions), taken
from git at commit 1c5aec5, run on the current simulation suite's generators and seeds.

usage: python bench/stats_before_after.py   (prints the old method's figures; the new ones come
from `pytest tests/stats -s`)
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
OLD = "1c5aec5"
_tmp = Path(tempfile.mkdtemp())
for name in ("effects", "ranking", "interactions"):
    code = subprocess.run(["git", "show", f"{OLD}:app/core/stats/{name}.py"], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout
    (_tmp / f"old_{name}.py").write_text(code)
sys.path.insert(0, str(_tmp))

import old_effects  # noqa: E402
import old_interactions  # noqa: E402
import old_ranking  # noqa: E402

from app.core.stats.fdr import bh_qvalues  # noqa: E402
from app.core.surf import simulation as sim  # noqa: E402
from app.core.surf.analysis import family  # noqa: E402

Scenario = sim.Scenario


def observations(spec, ok, m):  # type: ignore[no-untyped-def]
    others = [f for f in spec.features if f != m.feature]
    return [old_effects.Observation(s.prompt_index, "|".join(s.cell[o] for o in others), s.cell[m.feature],
                                    bool(s.scores[m.behaviour]["elicited"])) for s in ok]


def draw(sc: Scenario, rng: np.random.Generator):  # type: ignore[no-untyped-def]
    spec = sc.spec(int(rng.integers(sc.samples[0], sc.samples[1] + 1)))
    return spec, family(spec), sim.draw(sc, spec, rng)


def findings(sc: Scenario, reps: int, seed: int, n_boot: int = 1000) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    null_reject, flag_any, covered, power = sim.Tally(), sim.Tally(), sim.Tally(), sim.Tally()
    widths, t_widths = [], []
    for _ in range(reps):
        spec, members, ok = draw(sc, rng)
        effs = [old_effects.paired_effect(observations(spec, ok, m), m.baseline, m.level, rng=rng,
                                          n_boot=n_boot) for m in members]
        qs = bh_qvalues([e.p_value for e in effs])
        any_false = False
        for m, e, q in zip(members, effs, qs, strict=True):
            truth = sc.truth(m.feature, m.level, m.behaviour)
            flag = q < sc.alpha and abs(e.estimate) >= sc.min_effect
            if truth == 0:
                null_reject.add(e.p_value < sc.alpha)
                any_false |= flag
                continue
            covered.add(e.ci_low <= truth <= e.ci_high)
            power.add(flag)
            ci = stats.ttest_1samp(np.fromiter(e.per_prompt.values(), float), 0).confidence_interval(0.95)
            widths.append(e.ci_high - e.ci_low)
            t_widths.append(ci.high - ci.low)
        flag_any.add(any_false)
    ratio = float(np.median(widths) / np.median(t_widths)) if widths else None
    return {"null_reject": null_reject, "null_flag_any": flag_any, "covered": covered,
            "power_flag": power, "width_ratio_vs_ttest": ratio}


def salience(sc: Scenario, reps: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    excludes, first = sim.Tally(), {f: 0 for f in sc.levels}
    for _ in range(reps):
        spec, members, ok = draw(sc, rng)
        table: dict[tuple[int, str], dict[str, float]] = {}
        for m in members:
            e = old_effects.paired_effect(observations(spec, ok, m), m.baseline, m.level, rng=rng, n_boot=20)
            for p, v in e.per_prompt.items():
                row = table.setdefault((p, m.behaviour), {})
                row[m.feature] = max(row.get(m.feature, 0.0), abs(v))
        ranking = old_ranking.bradley_terry(table, list(sc.levels), rng=rng, n_boot=200)
        for r in ranking:
            excludes.add(not r["ci_low"] <= 0 <= r["ci_high"])
        first[ranking[0]["feature"]] += 1
    return {"interval_excludes_0": excludes, "ranked_first": {k: v / reps for k, v in first.items()}}


def interactions(sc: Scenario, reps: int, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    rejects = sim.Tally()
    for _ in range(reps):
        spec, _, data = draw(sc, rng)
        for b in spec.behaviours:
            rows = [{"prompt": s.prompt_index, "y": int(bool(s.scores[b]["elicited"])), **s.cell}
                    for s in data]
            for r in old_interactions.fit_interactions(rows, list(spec.features), b):
                rejects.add(r["p_value"] < sc.alpha)
    return {"term_rejects": rejects}


def main() -> None:
    het = Scenario(heterogeneity=0.3, base=(2.0, 3.0))
    planted = {("a", "l1", 0): 0.15, ("b", "l2", 1): 0.10, ("nuisance", "l1", 0): 0.25}
    print("heterogeneous null", findings(het, 150, 101))
    print("skewed null", findings(Scenario(heterogeneity=0.6, base=(2.0, 2.0), skewed=True), 150, 102))
    print("complete null, min_effect 0",
          findings(Scenario(heterogeneity=0.3, base=(2.0, 3.0), planted={}, min_effect=0.0), 150, 103))
    print("planted effects",
          findings(Scenario(heterogeneity=0.15, base=(2.0, 3.0), planted=planted), 150, 104))
    print("salience null", salience(Scenario(levels={"two": 2, "three": 3, "four": 4}, planted={},
                                             heterogeneity=0.3, base=(2.0, 3.0)), 100, 106))
    print("interaction null", interactions(het, 100, 108))


if __name__ == "__main__":
    main()
