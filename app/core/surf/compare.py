"""Two audits of one spec, paired by prompt: did a shortcut appear, grow, shrink or stay?

For each finding of the spec's family, each audit's per-prompt effect is computed as its report
computes it; the change is the mean over prompts of (candidate − baseline) per-prompt effects,
with a t-interval and test over prompts (df = prompts − 1). Pairing removes what persists in a
prompt across checkpoints, so two "inconclusive" audits can still show a clear change. BH over the
family, Benjamini-Yekutieli FCR-adjusted intervals, and a verdict signed by the difference that
reads the adjusted interval against ±min_effect: grew / shrank (selected, wholly beyond),
unchanged (wholly inside), inconclusive, not estimable."""

from __future__ import annotations

import json
from typing import Any

from app.core.stats.decisions import FLAGGED, NEGLIGIBLE, NOT_ESTIMABLE, decide
from app.core.stats.effects import Effect, NotEstimable, difference
from app.core.surf.analysis import answered, estimate, family
from app.core.surf.compare_report import (
    ChangeFinding,
    ChangeVerdict,
    CompareFamily,
    CompareReport,
    PromptsCompared,
)
from app.core.surf.samples import Sample
from app.core.surf.spec import ProbeSpec

MUST_MATCH = ("features", "behaviours", "alpha", "min_effect")


class SpecMismatch(ValueError):
    """The two audits do not measure the same family: what differs, by name."""


def _prompt_key(item: Any) -> str:
    return json.dumps(_dump(item), sort_keys=True)


def check_specs(a: ProbeSpec, b: ProbeSpec, *, common_prompts: bool) -> tuple[dict[int, int], PromptsCompared,
                                                                               dict[str, list[Any]]]:
    """(baseline prompt index → candidate's, what was compared, sampling differences); raises
    SpecMismatch naming every difference that makes the audits incomparable."""
    problems = [_mismatch(k, getattr(a, k), getattr(b, k)) for k in MUST_MATCH
                if _dump(getattr(a, k)) != _dump(getattr(b, k))]
    ka, kb = [_prompt_key(p) for p in a.prompts], [_prompt_key(p) for p in b.prompts]
    at_b = {k: i for i, k in enumerate(kb)}
    if ka != kb and not common_prompts:
        shared = sum(k in at_b for k in ka)
        problems.append(f"prompts differ ({len(ka)} in the baseline, {len(kb)} in the candidate, {shared} "
                        "in both); compare those in both with --common-prompts (common_prompts=true)")
    if problems:
        raise SpecMismatch("; ".join(problems))
    pairs = {i: at_b[k] for i, k in enumerate(ka) if k in at_b}
    prompts = PromptsCompared(paired=len(pairs), common_only=ka != kb,
                              baseline_only=len(ka) - len(pairs), candidate_only=len(kb) - len(pairs))
    da, db = a.design.model_dump(mode="json"), b.design.model_dump(mode="json")
    sampling = {k: [da.get(k), db.get(k)] for k in sorted(set(da) | set(db)) if da.get(k) != db.get(k)}
    return pairs, prompts, sampling


def _mismatch(key: str, a: Any, b: Any) -> str:
    if not isinstance(a, dict):
        return f"{key}: {a!r} in the baseline, {b!r} in the candidate"
    names = sorted(set(a) ^ set(b)) + sorted(n for n in set(a) & set(b) if _dump(a[n]) != _dump(b[n]))
    return f"{key} differ: {', '.join(names)}"


def _dump(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _dump(v) for k, v in value.items()}
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def compare(baseline_spec: ProbeSpec, baseline: list[Sample], candidate_spec: ProbeSpec,
            candidate: list[Sample], *, common_prompts: bool = False, baseline_audit_id: str | None = None,
            candidate_audit_id: str | None = None) -> CompareReport:
    pairs, prompts, sampling = check_specs(baseline_spec, candidate_spec, common_prompts=common_prompts)
    members = family(baseline_spec)
    eff_a = estimate(baseline_spec, answered(baseline_spec, baseline), members)
    eff_b = estimate(candidate_spec, answered(candidate_spec, candidate), members)
    diffs: list[Effect | NotEstimable] = []
    for a, b in zip(eff_a, eff_b, strict=True):
        if isinstance(a, NotEstimable):
            diffs.append(NotEstimable(f"baseline: {a.reason}", 0))
        elif isinstance(b, NotEstimable):
            diffs.append(NotEstimable(f"candidate: {b.reason}", 0))
        else:
            diffs.append(difference(a, b, pairs))
    alpha, min_effect = baseline_spec.alpha, baseline_spec.min_effect
    decisions, fam = decide(diffs, alpha=alpha, min_effect=min_effect)
    findings = []
    for m, a, b, d, dec in zip(members, eff_a, eff_b, diffs, decisions, strict=True):
        low, high = d.interval(1 - alpha) if isinstance(d, Effect) else (None, None)
        findings.append(ChangeFinding(
            feature=m.feature, level=m.level, baseline=m.baseline, behaviour=m.behaviour,
            baseline_effect=a.estimate if isinstance(a, Effect) else None,
            candidate_effect=b.estimate if isinstance(b, Effect) else None,
            difference=d.estimate if isinstance(d, Effect) else None,
            se=d.se if isinstance(d, Effect) else None, df=d.df if isinstance(d, Effect) else None,
            ci_low=low, ci_high=high, ci_adj_level=dec.adj_level, ci_adj_low=dec.adj_low,
            ci_adj_high=dec.adj_high, p_value=d.p_value if isinstance(d, Effect) else 1.0,
            q_value=dec.q_value, n_prompts=d.n_prompts, verdict=_verdict(dec.outcome, d),
            reason=d.reason if isinstance(d, NotEstimable) else None))
    findings.sort(key=lambda f: (f.verdict not in ("grew", "shrank"), f.verdict == "not estimable",
                                 f.q_value, -abs(f.difference or 0.0)))
    return CompareReport(name=baseline_spec.name, baseline_audit_id=baseline_audit_id,
                         candidate_audit_id=candidate_audit_id, alpha=alpha, min_effect=min_effect,
                         prompts=prompts, sampling_differences=sampling,
                         family=CompareFamily(size=fam.size, selected=fam.selected, fcr_level=fam.adj_level),
                         findings=findings)


def _verdict(outcome: str, d: Effect | NotEstimable) -> ChangeVerdict:
    if outcome == NOT_ESTIMABLE:
        return "not estimable"
    if outcome == FLAGGED:
        return "grew" if isinstance(d, Effect) and d.estimate > 0 else "shrank"
    return "unchanged" if outcome == NEGLIGIBLE else "inconclusive"

