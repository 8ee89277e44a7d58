"""Monte-Carlo checks of the audit statistics on nulls that are not the easy case.

Outcomes come from an additive model on the rate scale, so every finding's true value is known
exactly: per prompt and behaviour a Beta base rate; each non-baseline level of each feature shifts
it by its planted mean plus a per-prompt deviation of random sign (mean exactly zero), capped so
that no rate ever leaves [0, 1] (no clipping, so a null stays exactly null). A "nuisance" feature
with a large real effect shares the family. The checks run the same code an audit runs
(analysis.estimate/looks, decisions, interactions, ranking) and also serve to plan
samples_per_prompt before an expensive audit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import product
from typing import Any

import numpy as np
from scipy import stats

from app.core.stats.effects import Effect
from app.core.stats.interactions import fit_interactions
from app.core.stats.ranking import bradley_terry
from app.core.surf.analysis import estimate, family, looks
from app.core.surf.frame import SampleFrame
from app.core.surf.samples import Sample
from app.core.surf.spec import ProbeSpec


@dataclass(frozen=True)
class Scenario:
    prompts: int = 12
    samples: tuple[int, int] = (2, 5)  # samples per prompt per cell, drawn per replication
    levels: dict[str, int] = field(default_factory=lambda: {"a": 2, "b": 3, "nuisance": 2})
    behaviours: int = 2
    base: tuple[float, float] = (1.5, 5.0)  # Beta parameters of per-prompt base rates
    heterogeneity: float = 0.15  # sd of the per-prompt deviations (before the cap)
    skewed: bool = False  # deviations +c (p = 0.8) or -4c (p = 0.2): mean zero, far from symmetric
    planted: dict[tuple[str, str, int], float] = field(
        default_factory=lambda: {("nuisance", "l1", 0): 0.35})  # (feature, level, behaviour) → shift
    alpha: float = 0.05
    min_effect: float = 0.10
    kind: str = "factorial"
    samples_per_round: int | None = None

    def spec(self, samples_per_prompt: int) -> ProbeSpec:
        design: dict[str, Any] = {"samples_per_prompt": samples_per_prompt, "kind": self.kind}
        if self.samples_per_round:
            design["samples_per_round"] = self.samples_per_round
        return ProbeSpec.model_validate({
            "name": "sim", "prompts": [f"p{i}" for i in range(self.prompts)],
            "features": {f: {"levels": {f"l{j}": "{prompt}" + "!" * j for j in range(n)}}
                         for f, n in self.levels.items()},
            "behaviours": {f"b{k}": {"builtin": "emoji"} for k in range(self.behaviours)},
            "design": design, "alpha": self.alpha, "min_effect": self.min_effect})

    def truth(self, feature: str, level: str, behaviour: str) -> float:
        return self.planted.get((feature, level, int(behaviour[1:])), 0.0)


def rates(sc: Scenario, rng: np.random.Generator) -> dict[tuple[int, int], dict[tuple[str, str], float]]:
    """(prompt, behaviour) → {(feature, level): shift}, with '_base' under ('_', '_')."""
    out = {}
    k = len(sc.levels)
    for p, b in product(range(sc.prompts), range(sc.behaviours)):
        total = sum(max(0.0, v) for (_, _, bb), v in sc.planted.items() if bb == b)
        base = (1 - total) * rng.beta(*sc.base)
        cap = min(base, 1 - base - total) / k
        shifts = {("_", "_"): base}
        for f, n in sc.levels.items():
            for j in range(1, n):
                if sc.skewed:
                    dev = min(abs(rng.normal(0, sc.heterogeneity)), cap / 4) * (1.0 if rng.random() < 0.8
                                                                                 else -4.0)
                else:
                    dev = min(abs(rng.normal(0, sc.heterogeneity)), cap) * rng.choice((-1.0, 1.0))
                shifts[(f, f"l{j}")] = sc.planted.get((f, f"l{j}", b), 0.0) + dev
        out[(p, b)] = shifts
    return out


def draw(sc: Scenario, spec: ProbeSpec, rng: np.random.Generator,
         table: dict[tuple[int, int], dict[tuple[str, str], float]] | None = None) -> list[Sample]:
    table = rates(sc, rng) if table is None else table
    out = []
    n = spec.design.samples_per_prompt
    for cell in spec.cells():
        for p in range(sc.prompts):
            r = [table[(p, b)][("_", "_")] + sum(table[(p, b)].get((f, lv), 0.0) for f, lv in cell.items())
                 for b in range(sc.behaviours)]
            ys = rng.random((n, sc.behaviours)) < np.asarray(r)
            for s in range(n):
                scores = {f"b{b}": {"elicited": bool(ys[s, b])} for b in range(sc.behaviours)}
                out.append(Sample(dict(cell), p, s, [], "", scores, None))
    return out


@dataclass
class Tally:
    """Counts with Monte-Carlo standard errors."""

    hits: int = 0
    trials: int = 0

    def add(self, hit: bool) -> None:
        self.hits += int(hit)
        self.trials += 1

    @property
    def rate(self) -> float:
        return self.hits / self.trials if self.trials else float("nan")

    @property
    def mc_se(self) -> float:
        return float(np.sqrt(self.rate * (1 - self.rate) / self.trials)) if self.trials else float("nan")

    def __repr__(self) -> str:
        return f"{self.rate:.3f} ± {self.mc_se:.3f} (n={self.trials})"


def findings(sc: Scenario, replications: int, seed: int) -> dict[str, Any]:
    """False positives, flags, coverage, width and power of the finding pipeline."""
    rng = np.random.default_rng(seed)
    t = {k: Tally() for k in ("null_reject", "null_flag_any", "null_flag", "covered", "power_flag",
                              "power_reject", "ttest_reject", "decided_wrong")}
    widths: list[float] = []
    ttest_widths: list[float] = []
    for _ in range(replications):
        spec = sc.spec(int(rng.integers(sc.samples[0], sc.samples[1] + 1)))
        members = family(spec)
        last = looks(spec, SampleFrame.of(spec, draw(sc, spec, rng)), members)
        final = last[-1]
        any_false = False
        for i, m in enumerate(members):
            truth = sc.truth(m.feature, m.level, m.behaviour)
            e, d = final.effects[i], final.decisions[i]
            frozen = next((lk.decisions[i] for lk in last if lk.decisions[i].decided), d)
            if not isinstance(e, Effect):
                continue
            low, high = e.interval(1 - final.alpha)
            if truth == 0:
                t["null_reject"].add(e.p_value < final.alpha)
                t["null_flag"].add(frozen.outcome == "flagged")
                any_false |= frozen.outcome == "flagged"
            else:
                t["covered"].add(low <= truth <= high)
                t["power_flag"].add(frozen.outcome == "flagged")
                t["power_reject"].add(e.p_value < final.alpha)
                d_p = np.fromiter(e.per_prompt.values(), float)
                plain = stats.ttest_1samp(d_p, 0.0)
                t["ttest_reject"].add(bool(plain.pvalue < final.alpha))
                ci = plain.confidence_interval(1 - final.alpha)
                widths.append(high - low)
                ttest_widths.append(float(ci.high - ci.low))
            if frozen.outcome == "negligible":
                t["decided_wrong"].add(abs(truth) >= sc.min_effect)
        t["null_flag_any"].add(any_false)
    ratio = float(np.median(widths) / np.median(ttest_widths)) if widths else float("nan")
    return {**t, "width_ratio_vs_ttest": ratio}


def salience(sc: Scenario, replications: int, seed: int, n_boot: int = 400) -> dict[str, Any]:
    """How often a salience interval excludes 0, and how often each feature ranks first."""
    rng = np.random.default_rng(seed)
    exclude, any_exclude = Tally(), Tally()
    first = {f: 0 for f in sc.levels}
    for _ in range(replications):
        spec = sc.spec(int(rng.integers(sc.samples[0], sc.samples[1] + 1)))
        members = family(spec)
        eff = estimate(spec, SampleFrame.of(spec, draw(sc, spec, rng)), members)
        contrasts = {(m.behaviour, m.feature, m.level): e.per_prompt
                     for m, e in zip(members, eff, strict=True) if isinstance(e, Effect)}
        ranking = bradley_terry(contrasts, list(sc.levels), rng=rng, n_boot=n_boot, alpha=sc.alpha)
        outside = [not (float(r["ci_low"]) <= 0 <= float(r["ci_high"])) for r in ranking]  # type: ignore[arg-type]
        for o in outside:
            exclude.add(o)
        any_exclude.add(any(outside))
        if ranking:
            first[str(ranking[0]["feature"])] += 1
    return {"interval_excludes_0": exclude, "some_interval_excludes_0": any_exclude,
            "ranked_first": {f: n / replications for f, n in first.items()}}


def interactions(sc: Scenario, replications: int, seed: int) -> dict[str, Any]:
    """Rejections of interaction terms that are exactly zero (the model is additive)."""
    rng = np.random.default_rng(seed)
    reject, not_estimable = Tally(), Tally()
    for _ in range(replications):
        spec = sc.spec(int(rng.integers(sc.samples[0], sc.samples[1] + 1)))
        data = draw(sc, spec, rng)
        for b in spec.behaviours:
            rows = [{"prompt": s.prompt_index, "y": int(bool(s.scores[b]["elicited"])), **s.cell}
                    for s in data]
            for r in fit_interactions(rows, list(spec.features), b, alpha=sc.alpha):
                not_estimable.add(not r["estimable"])
                if r["estimable"]:
                    reject.add(r["p_value"] < sc.alpha)
    return {"term_rejects": reject, "not_estimable": not_estimable}


Member = tuple[str, str, int]  # (feature, level, behaviour)


def paired_rates(sc: Scenario, change: dict[Member, float], change_sd: float, rng: np.random.Generator
                 ) -> tuple[dict[tuple[int, int], dict[tuple[str, str], float]], ...]:
    """Two checkpoints of one model. Per prompt, each level's effect persists from the baseline
    to the candidate (its planted value plus a per-prompt deviation of random sign), and changes
    by the planted `change` plus a second per-prompt deviation of random sign (mean exactly
    zero). Each deviation is capped at half the room `rates` leaves, so no rate leaves [0, 1]
    and a null change stays exactly null. A planted change must lower a planted shift (or raise
    one within the room the baseline's planted values reserve)."""
    a = rates(sc, rng)
    b: dict[tuple[int, int], dict[tuple[str, str], float]] = {}
    k = len(sc.levels)
    for (p, beh), shifts in a.items():
        total = sum(max(0.0, v) for (_, _, bb), v in sc.planted.items() if bb == beh)
        base = shifts[("_", "_")]
        cap = min(base, 1 - base - total) / k / 2
        moved = {("_", "_"): base}
        for (f, level), v in shifts.items():
            if f == "_":
                continue
            planted = sc.planted.get((f, level, beh), 0.0)
            persistent = float(np.clip(v - planted, -cap, cap))  # the baseline's own deviation, halved room
            a[(p, beh)][(f, level)] = planted + persistent
            dev = min(abs(rng.normal(0, change_sd)), cap) * rng.choice((-1.0, 1.0))
            moved[(f, level)] = planted + change.get((f, level, beh), 0.0) + persistent + dev
        b[(p, beh)] = moved
    return a, b


def changes(sc: Scenario, change: dict[Member, float], replications: int, seed: int,
            change_sd: float = 0.15, reverse: bool = False) -> dict[str, Any]:
    """Null changes called, coverage of the difference's interval and power for planted changes,
    against a plain prompt-level paired t-test on the same per-prompt effects. `reverse` compares
    the later checkpoint as the baseline: a planted fall becomes a rise."""
    from app.core.surf.compare import compare

    rng = np.random.default_rng(seed)
    t = {k: Tally() for k in ("null_reject", "null_called", "null_called_any", "covered", "power",
                              "power_reject", "ttest_reject", "wrong_sign")}
    for _ in range(replications):
        spec = sc.spec(int(rng.integers(sc.samples[0], sc.samples[1] + 1)))
        ta, tb = paired_rates(sc, change, change_sd, rng)
        base, cand = draw(sc, spec, rng, ta), draw(sc, spec, rng, tb)
        if reverse:
            base, cand = cand, base
        report = compare(spec, base, spec, cand)
        members = family(spec)
        per_a = estimate(spec, SampleFrame.of(spec, base), members)
        per_b = estimate(spec, SampleFrame.of(spec, cand), members)
        by_member = {(m.feature, m.level, m.behaviour): (ea, eb) for m, ea, eb in zip(members, per_a, per_b,
                                                                                       strict=True)}
        any_called = False
        for f in report.findings:
            truth = change.get((f.feature, f.level, int(f.behaviour[1:])), 0.0) * (-1 if reverse else 1)
            if f.difference is None or f.ci_low is None or f.ci_high is None:
                continue
            t["covered"].add(f.ci_low <= truth <= f.ci_high)
            called = f.verdict in ("grew", "shrank")
            if truth == 0:
                t["null_reject"].add(f.p_value < sc.alpha)
                t["null_called"].add(called)
                any_called |= called
                continue
            t["power"].add(called)
            t["power_reject"].add(f.p_value < sc.alpha)
            t["wrong_sign"].add(called and (f.difference > 0) != (truth > 0))
            ea, eb = by_member[(f.feature, f.level, f.behaviour)]
            if isinstance(ea, Effect) and isinstance(eb, Effect):
                shared = sorted(set(ea.per_prompt) & set(eb.per_prompt))
                after, before = [eb.per_prompt[i] for i in shared], [ea.per_prompt[i] for i in shared]
                plain = stats.ttest_rel(after, before)
                t["ttest_reject"].add(bool(plain.pvalue < sc.alpha))
        t["null_called_any"].add(any_called)
    return t
