"""One spec over N checkpoints: each finding's effect at every checkpoint, a trend across them,
and the paired comparison of each consecutive pair (compare.py).

The trend is built from prompt-level variation like everything else: per prompt, the ordinary
least-squares slope of its per-prompt effect on the checkpoint's position (0, 1, … N−1) over the
checkpoints where that prompt's effect is estimated in all of them; the trend is the mean of
those slopes, with the one-sample t-interval and t-test over prompts (df = prompts − 1). The
checkpoints share their prompts, so a prompt's persistent effect cancels in its slope; BH over
the spec's family of trends."""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, Field
from scipy import stats

from app.core.stats.effects import MIN_PROMPTS, Effect, t_over_prompts
from app.core.stats.fdr import bh_qvalues
from app.core.surf.analysis import answered, estimate, family
from app.core.surf.compare import compare
from app.core.surf.compare_report import CompareReport
from app.core.surf.samples import Sample
from app.core.surf.spec import ProbeSpec

TREND_METHOD = ("per-prompt OLS slope of the effect on checkpoint position (0..N-1), over prompts "
                "estimated at every checkpoint; mean slope with a one-sample t-interval and t-test "
                "over prompts (df = prompts - 1); BH over the family")


class PointEffect(BaseModel):
    label: str
    audit_id: str | None = None
    effect: float | None
    ci_low: float | None = Field(description="The audit's own marginal 1 − alpha t-interval.")
    ci_high: float | None


class Trend(BaseModel):
    estimate: float | None = Field(description="Mean over prompts of the per-prompt slope: change in "
                                   "effect per checkpoint.")
    ci_low: float | None = Field(description="1 − alpha t-interval over prompts.")
    ci_high: float | None
    p_value: float
    q_value: float
    n_prompts: int
    method: str = TREND_METHOD
    reason: str | None = None


class SeriesFinding(BaseModel):
    feature: str
    level: str
    baseline: str
    behaviour: str
    effects: list[PointEffect]
    trend: Trend


class SeriesReport(BaseModel):
    schema_version: int = 1
    name: str
    labels: list[str]
    audits: list[str | None]
    alpha: float
    findings: list[SeriesFinding]
    steps: list[CompareReport] = Field(description="Consecutive checkpoints compared, paired by prompt.")


def series(spec: ProbeSpec, labels: list[str], samples: list[list[Sample]],
           audit_ids: list[str | None] | None = None) -> SeriesReport:
    ids = audit_ids or [None] * len(labels)
    members = family(spec)
    per = [estimate(spec, answered(spec, s), members) for s in samples]
    trends = [_trend([per[k][i] for k in range(len(labels))], spec.alpha) for i in range(len(members))]
    qs = bh_qvalues([t[2] for t in trends])
    alpha = spec.alpha
    findings = []
    for i, m in enumerate(members):
        est, (low, high), p, n, reason = trends[i]
        points = []
        for k, label in enumerate(labels):
            e = per[k][i]
            lo, hi = e.interval(1 - alpha) if isinstance(e, Effect) else (None, None)
            points.append(PointEffect(label=label, audit_id=ids[k], effect=e.estimate if isinstance(e, Effect)
                                      else None, ci_low=lo, ci_high=hi))
        findings.append(SeriesFinding(feature=m.feature, level=m.level, baseline=m.baseline,
                                      behaviour=m.behaviour, effects=points,
                                      trend=Trend(estimate=est, ci_low=low, ci_high=high, p_value=p,
                                                  q_value=qs[i], n_prompts=n, reason=reason)))
    steps = [compare(spec, samples[k], spec, samples[k + 1], baseline_audit_id=ids[k],
                     candidate_audit_id=ids[k + 1]) for k in range(len(labels) - 1)]
    return SeriesReport(name=spec.name, labels=labels, audits=ids, alpha=alpha, findings=findings,
                        steps=steps)


TrendParts = tuple[float | None, tuple[float | None, float | None], float, int, str | None]


def _trend(effects: list[Any], alpha: float) -> TrendParts:
    if not all(isinstance(e, Effect) for e in effects):
        return None, (None, None), 1.0, 0, "the effect is not estimable at every checkpoint"
    shared = sorted(set.intersection(*(set(e.per_prompt) for e in effects)))
    if len(shared) < MIN_PROMPTS:
        return None, (None, None), 1.0, len(shared), (f"only {len(shared)} prompt(s) estimated at every "
                                                      f"checkpoint; at least {MIN_PROMPTS} are needed")
    x = np.arange(len(effects), dtype=float) - (len(effects) - 1) / 2
    y = np.array([[e.per_prompt[p] for e in effects] for p in shared])  # prompts × checkpoints
    slopes = (y - y.mean(axis=1, keepdims=True)) @ x / float(x @ x)
    # a slope's own sampling variance: the checkpoints' per-prompt variances, weighted by x²
    var = np.array([[e.per_prompt_var.get(p, 0.0) for e in effects] for p in shared]) @ (x * x)
    est, se, p = t_over_prompts(slopes, var / float(x @ x) ** 2)
    half = float(stats.t.ppf(1 - alpha / 2, len(slopes) - 1)) * se
    return est, (est - half, est + half), p, len(slopes), None
