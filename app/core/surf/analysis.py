"""From stored samples to a report: cell rates, findings, interactions, salience.

Prompts are the unit of inference throughout (see app/core/stats). The finding family is fixed by
the spec, every non-baseline level of every feature against every behaviour, so a finding that
cannot be estimated stays in the family and in the report with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from app.core.stats import sequential
from app.core.stats.agreement import agreement
from app.core.stats.decisions import FLAGGED, INCONCLUSIVE, Decision, Family, decide
from app.core.stats.effects import MIN_PROMPTS, Effect, NotEstimable, effect_of
from app.core.stats.fdr import bh_qvalues
from app.core.stats.interactions import fit_interaction_arrays
from app.core.stats.judge_error import MIN_YOUDEN, JudgeError, corrected_effect
from app.core.stats.ranking import Contrasts, bradley_terry
from app.core.stats.rates import clustered_rate
from app.core.surf.frame import NOT_COUNTED, SampleFrame
from app.core.surf.report import (
    AgreementOut,
    AuditReport,
    CellOut,
    Example,
    FamilyOut,
    Finding,
    Interaction,
    JudgeReliability,
    Message,
    RankEntry,
    RateOut,
    SequentialOut,
    TargetRef,
    Totals,
    UsageOut,
)
from app.core.surf.samples import Sample, sort_key
from app.core.surf.spec import ProbeSpec, cell_key

METHOD = (
    "Prompts are a sample, so prompts are the unit of inference. Effect of a level on a behaviour: "
    "for each base prompt, the rate difference (level minus baseline) within every stratum of the "
    "other features' levels, averaged over strata; the effect is the mean of these per-prompt "
    "differences. Its interval and test are the one-sample t-interval and t-test over prompts "
    "(df = prompts - 1); when every prompt moved by exactly the same amount, the binomial sampling "
    "variance stands in for the zero between-prompt variance, so no interval has zero width; "
    "findings with fewer than "
    f"{MIN_PROMPTS} comparable prompts are 'not estimable'. FDR: Benjamini-Hochberg over the family "
    "fixed by the spec (every non-baseline level x behaviour). Verdicts read the Benjamini-Yekutieli "
    "FCR-adjusted interval (level 1 - R*alpha/m) against +/-min_effect: selected and wholly beyond "
    "it = flagged (miscalibrated unless the spec declares the pair relevant); wholly inside = "
    "negligible; otherwise inconclusive. Rates: Wilson intervals at the effective sample size "
    "(design effect from prompt-clustered variance) with a t(G-1) critical value. Interactions: "
    "linear probability model y ~ prompt + A*B + other features, prompt-clustered CR1 errors, "
    "t(G-1) references, BH over all interaction terms; degenerate fits are 'not estimable'. "
    "Salience: Bradley-Terry over per-prompt conflicts of cross-fitted signed contrasts (level and "
    "direction chosen on the other prompts), percentile bootstrap over prompts. Sequential designs: "
    "a look after each round at alpha_r = alpha((r/R)^2 - ((r-1)/R)^2) (union bound over looks), "
    "a finding's verdict frozen at the first look that decides it. Samples whose scorer failed "
    "are excluded for that behaviour and counted in totals.scorer_errors."
)


@dataclass(frozen=True)
class Member:
    """One member of the finding family."""

    feature: str
    level: str
    baseline: str
    behaviour: str

    @property
    def label(self) -> str:
        return f"{self.feature}={self.level}→{self.behaviour}"


def family(spec: ProbeSpec) -> list[Member]:
    return [Member(f, level, fs.baseline_level(), b)
            for f, fs in spec.features.items() for b in spec.behaviours
            for level in fs.level_names() if level != fs.baseline_level()]


def estimate(spec: ProbeSpec, ok: SampleFrame, members: list[Member]) -> list[Effect | NotEstimable]:
    strata = {f: ok.strata(f) for f in {m.feature for m in members}}
    out: list[Effect | NotEstimable] = []
    for m in members:
        y, at_b = ok.y[m.behaviour], ok.at(m.feature, m.level)
        rows = (y != NOT_COUNTED) & (ok.at(m.feature, m.baseline) | at_b)
        out.append(effect_of(ok.prompt[rows], strata[m.feature][rows], at_b[rows],
                             y[rows].astype(float), m.baseline, m.level))
    return out


@dataclass(frozen=True)
class Look:
    round: int
    alpha: float
    effects: list[Effect | NotEstimable]
    decisions: list[Decision]
    family: Family


def looks(spec: ProbeSpec, ok: SampleFrame, members: list[Member]) -> list[Look]:
    """One look for a factorial design; one per round taken for a sequential one."""
    design = spec.design
    if design.kind != "sequential":
        eff = estimate(spec, ok, members)
        dec, fam = decide(eff, alpha=spec.alpha, min_effect=spec.min_effect)
        return [Look(1, spec.alpha, eff, dec, fam)]
    max_rounds = design.max_rounds()
    taken = int(ok.sample_index.max(initial=-1)) + 1
    done_rounds = min(max_rounds, max(1, -(-taken // design.round_size())))
    out = []
    for r in range(1, done_rounds + 1):
        subset = ok.where(ok.sample_index < design.samples_after(r))
        a = sequential.look_alpha(spec.alpha, r, max_rounds)
        eff = estimate(spec, subset, members)
        dec, fam = decide(eff, alpha=a, min_effect=spec.min_effect)
        out.append(Look(r, a, eff, dec, fam))
    return out


def _frozen(all_looks: list[Look], i: int) -> Look:
    """The look that decided member i, else the last."""
    return next((lk for lk in all_looks if lk.decisions[i].decided), all_looks[-1])


def _still_open(members: list[Member], all_looks: list[Look]) -> list[str]:
    return [m.label for i, m in enumerate(members)
            if _frozen(all_looks, i).decisions[i].outcome == INCONCLUSIVE]


def open_members(spec: ProbeSpec, samples: list[Sample]) -> tuple[list[str], int]:
    """Members no look has decided yet (what a sequential audit still samples for), and the
    family's size."""
    members = family(spec)
    return _still_open(members, looks(spec, answered(spec, samples), members)), len(members)


def answered(spec: ProbeSpec, samples: list[Sample]) -> SampleFrame:
    """The samples without a target error, in canonical order (no analysis depends on the order
    they were stored in)."""
    return SampleFrame.of(spec, sorted((s for s in samples if s.error is None), key=sort_key))


@threadpool_limits.wrap(limits=1, user_api="blas")
def analyze(spec: ProbeSpec, samples: list[Sample], *, total: int, usage: dict[str, Any] | None = None,
            target: dict[str, Any] | None = None, seed: int | None = None, n_boot: int = 1000,
            audit_id: str | None = None, stopped: str | None = None) -> AuditReport:
    """The report of an audit's samples. BLAS runs single-threaded here: the matrices are small
    (samples × a few dozen columns), and OpenBLAS's threads on a busy machine (a worker sampling
    other jobs) made each SVD many times slower."""
    rng = np.random.default_rng(spec.design.seed if seed is None else seed)
    ok = answered(spec, samples)
    behaviours = list(spec.behaviours)
    members = family(spec)
    all_looks = looks(spec, ok, members)
    final = all_looks[-1]
    contrasts: Contrasts = {(m.behaviour, m.feature, m.level): e.per_prompt
                            for m, e in zip(members, final.effects, strict=True) if isinstance(e, Effect)}
    relevant = {tuple(p) for p in spec.relevant}
    findings = [_finding(spec, m, _frozen(all_looks, i), i, ok, (m.feature, m.behaviour) in relevant)
                for i, m in enumerate(members)]
    findings.sort(key=lambda f: (not f.miscalibrated, not f.flagged, f.verdict == "not estimable",
                                 f.q_value, -abs(f.effect or 0.0)))
    cells = _cells(spec, ok, behaviours, spec.alpha)
    interactions = _interactions(spec, ok, behaviours)
    ranking = [RankEntry.model_validate(r) for r in bradley_terry(contrasts, list(spec.features), rng=rng,
                                                                   n_boot=n_boot, alpha=spec.alpha)]
    scorer_errors = {b: int(ok.scorer_failed[b].sum()) for b in behaviours}
    seq = None
    if spec.design.kind == "sequential":
        seq = SequentialOut(rounds_run=final.round, max_rounds=spec.design.max_rounds(),
                            samples_per_round=spec.design.round_size(),
                            alpha_spent=sum(lk.alpha for lk in all_looks),
                            open=_still_open(members, all_looks),
                            stopped=stopped)
    return AuditReport(
        audit_id=audit_id, name=spec.name, target=TargetRef.model_validate(target or {}),
        alpha=spec.alpha, min_effect=spec.min_effect,
        totals=Totals(work_items=total, completed=len(ok), target_errors=len(samples) - len(ok),
                      missing=total - len(samples), scorer_errors=scorer_errors),
        family=FamilyOut(size=final.family.size, selected=final.family.selected,
                         fcr_level=final.family.adj_level,
                         definition="every non-baseline level of every feature x every behaviour"),
        findings=findings, cells=cells, interactions=interactions, ranking=ranking, sequential=seq,
        judges=_judges(spec, samples),
        usage=UsageOut.model_validate(usage or {}), method=METHOD, behaviours=dict(spec.behaviours),
    )


def _finding(spec: ProbeSpec, m: Member, look: Look, i: int, ok: SampleFrame, relevant: bool
             ) -> Finding:
    eff, dec = look.effects[i], look.decisions[i]
    flagged = dec.outcome == FLAGGED
    verdict = ("miscalibrated" if flagged and not relevant else "expected" if flagged else dec.outcome)
    at, lv = ok.at(m.feature, m.baseline), ok.at(m.feature, m.level)
    common: dict[str, Any] = {
        "feature": m.feature, "level": m.level, "baseline": m.baseline, "behaviour": m.behaviour,
        "q_value": dec.q_value, "ci_adj_level": dec.adj_level, "ci_adj_low": dec.adj_low,
        "ci_adj_high": dec.adj_high, "rate_baseline": _rate(ok, at, m.behaviour, spec.alpha),
        "rate_level": _rate(ok, lv, m.behaviour, spec.alpha), "relevant": relevant, "flagged": flagged,
        "miscalibrated": flagged and not relevant, "verdict": verdict,
        "decided_at_round": look.round if dec.decided and spec.design.kind == "sequential" else None,
        "examples": _contrast_examples(ok, at, lv, m.behaviour),
    }
    if isinstance(eff, NotEstimable):
        return Finding(**common, effect=None, se=None, df=None, ci_low=None, ci_high=None, p_value=1.0,
                       n_strata=0, n_prompts=eff.n_prompts, reason=eff.reason)
    low, high = eff.interval(1 - look.alpha)
    return Finding(**common, effect=eff.estimate, se=eff.se, df=eff.df, ci_low=low, ci_high=high,
                   p_value=eff.p_value, n_strata=eff.n_strata, n_prompts=eff.n_prompts, reason=None,
                   **_corrected(spec, m.behaviour, eff, dec.adj_level))


def _corrected(spec: ProbeSpec, behaviour: str, eff: Effect, level: float) -> dict[str, Any]:
    """A calibrated scorer's effect corrected for its errors (app/core/stats/judge_error.py).
    The verdict keeps reading the raw interval: whether there is an effect does not depend on
    the correction (d = 0 iff d / J = 0); how large it is does."""
    cal = spec.behaviours[behaviour].calibration
    if cal is None:
        return {}
    err = JudgeError(tp=cal.tp, fn=cal.fn, tn=cal.tn, fp=cal.fp)
    said = (f"scorer sensitivity {err.sensitivity:.2f} (n {cal.tp + cal.fn}), specificity "
            f"{err.specificity:.2f} (n {cal.tn + cal.fp}){' from ' + cal.source if cal.source else ''}")
    got = corrected_effect(eff.estimate, eff.se, eff.df, err, level)
    if got is None:
        return {"correction": f"{said}: too poor to correct (sensitivity + specificity − 1 < "
                              f"{MIN_YOUDEN}); the verdict reads the raw interval"}
    return {"effect_corrected": got[0], "ci_corrected_low": got[1], "ci_corrected_high": got[2],
            "correction": f"{said}; Rogan–Gladen, delta method; the verdict reads the raw interval"}


def _judges(spec: ProbeSpec, samples: list[Sample]) -> list[JudgeReliability]:
    """Each measured scorer's error rates and agreements, from the verdicts stored with the samples."""
    out = []
    rng = np.random.default_rng(spec.design.seed)
    for name, b in spec.behaviours.items():
        j, cal = b.judge, b.calibration
        repeats, second = bool(j and j.repeat > 1), bool(j and j.second_judge)
        if cal is None and not repeats and not second:
            continue
        rel: dict[str, Any] = {"behaviour": name}
        if cal is not None:
            err = JudgeError(tp=cal.tp, fn=cal.fn, tn=cal.tn, fp=cal.fp)
            rel.update(sensitivity=err.sensitivity, specificity=err.specificity,
                       calibration_items=cal.tp + cal.fn + cal.tn + cal.fp)
        for key, wanted in (("self_agreement", repeats), ("inter_judge", second)):
            rows = [(s.prompt_index, v) for s in samples if wanted and s.error is None
                    for v in [_verdicts(s, name, key)] if v is not None]
            if rows:
                got = agreement(np.array([v for _, v in rows]), np.array([p for p, _ in rows]), rng=rng)
                rel[key] = AgreementOut.model_validate(got.as_dict())
        out.append(JudgeReliability(**rel))
    return out


def _verdicts(s: Sample, behaviour: str, key: str) -> list[int] | None:
    sc = s.scores.get(behaviour) or {}
    if sc.get("error") or sc.get("elicited") is None:
        return None
    detail = sc.get("detail") or {}
    got = detail.get("repeats") if key == "self_agreement" else [sc["elicited"], detail.get("second")]
    return None if not got or any(v is None for v in got) else [int(bool(v)) for v in got]


def _rate(ok: SampleFrame, rows: np.ndarray, behaviour: str, alpha: float) -> RateOut:
    """The rate over the samples where `rows` holds, one cluster per prompt."""
    y = ok.y[behaviour]
    rows = rows & (y != NOT_COUNTED)
    n = np.bincount(ok.prompt[rows])
    k = np.bincount(ok.prompt[rows], weights=y[rows], minlength=len(n))
    asked = n > 0
    return RateOut.model_validate(clustered_rate(k[asked], n[asked], alpha).as_dict())


def _example(s: Sample) -> Example:
    return Example(prompt_index=s.prompt_index, sample_index=s.sample_index,
                   messages=[Message.model_validate(m) for m in s.messages],
                   response=s.response or "",
                   elicited={b: bool(v.get("elicited")) for b, v in s.scores.items()})


def _cells(spec: ProbeSpec, ok: SampleFrame, behaviours: list[str], alpha: float) -> list[CellOut]:
    out = []
    for cell in spec.cells():
        rows = np.ones(len(ok), dtype=bool)
        for f, level in cell.items():
            rows &= ok.at(f, level)
        out.append(CellOut(cell_key=cell_key(cell), levels=cell, n=int(rows.sum()),
                           rates={b: _rate(ok, rows, b, alpha) for b in behaviours},
                           examples=[_example(s) for s in ok.first(rows, 2)]))
    return out


def _interactions(spec: ProbeSpec, ok: SampleFrame, behaviours: list[str]) -> list[Interaction]:
    raw: list[dict[str, Any]] = []
    features = list(spec.features)
    if len(features) < 2:
        return []
    for b in behaviours:
        rows = ok.y[b] != NOT_COUNTED
        raw += fit_interaction_arrays(ok.prompt[rows], ok.y[b][rows].astype(float),
                                      {f: ok.level_of(f, rows) for f in features}, b,
                                      alpha=spec.alpha)
    qs = bh_qvalues([r["p_value"] for r in raw])
    return [Interaction(**r, q_value=q, significant=bool(r["estimable"] and q <= spec.alpha))
            for r, q in zip(raw, qs, strict=True)]


def _contrast_examples(ok: SampleFrame, at: np.ndarray, lv: np.ndarray, b: str) -> list[Example]:
    """One baseline sample without and one level sample with the behaviour, when they exist."""
    y = ok.y[b]
    return [_example(s) for s in ok.first(at & (y == 0)) + ok.first(lv & (y == 1))]
