"""From stored samples to findings: rates, paired effects, FDR, interactions, salience ranking."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.core.stats.effects import Observation, paired_effect
from app.core.stats.fdr import bh_qvalues
from app.core.stats.interactions import fit_interactions
from app.core.stats.ranking import bradley_terry
from app.core.stats.rates import wilson
from app.core.surf.report import AuditReport, CellOut, Example, Finding, Interaction, RankEntry, RateOut
from app.core.surf.spec import ProbeSpec, cell_key

METHOD = (
    "Rates: Wilson 95% intervals. Findings: for each feature level versus its baseline and each "
    "behaviour, the rate difference within strata of (base prompt, levels of all other features), "
    "averaged within then across prompts; 95% CI by a two-stage cluster bootstrap (prompts, then "
    "samples); p by Cochran-Mantel-Haenszel over strata; q by Benjamini-Hochberg over every "
    "finding. Flagged when q < alpha and |effect| >= min_effect. Interactions: logistic regression "
    "y ~ A*B with prompt-clustered errors (LPM when the logit separates), BH over interactions. "
    "Salience: Bradley-Terry over per-prompt conflicts of |effect|. Samples whose scorer failed "
    "are excluded for that behaviour and counted in totals.scorer_errors."
)


@dataclass
class Sample:
    cell: dict[str, str]
    prompt_index: int
    sample_index: int
    messages: list[dict[str, str]]
    response: str | None
    scores: dict[str, dict[str, Any]]
    error: str | None


def _elicited(s: Sample, behaviour: str) -> bool | None:
    sc = s.scores.get(behaviour)
    if s.error or sc is None or sc.get("error"):
        return None
    return bool(sc.get("elicited"))


def _rate(samples: list[Sample], behaviour: str) -> RateOut:
    ys = [y for s in samples if (y := _elicited(s, behaviour)) is not None]
    return RateOut(**wilson(sum(ys), len(ys)).as_dict())


def _example(s: Sample) -> Example:
    return Example(prompt_index=s.prompt_index, sample_index=s.sample_index, messages=s.messages,
                   response=s.response or "",
                   elicited={b: bool(v.get("elicited")) for b, v in s.scores.items()})


def analyze(spec: ProbeSpec, samples: list[Sample], *, total: int, usage: dict[str, Any] | None = None,
            target: dict[str, Any] | None = None, seed: int | None = None,
            n_boot: int = 2000) -> AuditReport:
    rng = np.random.default_rng(spec.design.seed if seed is None else seed)
    ok = [s for s in samples if s.error is None]
    behaviours = list(spec.behaviours)
    features = list(spec.features)
    relevant = {tuple(p) for p in spec.relevant}

    cells = _cells(spec, ok, behaviours)
    raw, per_prompt = _effects(spec, ok, behaviours, rng, n_boot)
    qs = bh_qvalues([f["p_value"] for f in raw])
    findings = []
    for f, q in zip(raw, qs, strict=True):
        flagged = q < spec.alpha and abs(f["effect"]) >= spec.min_effect
        is_rel = (f["feature"], f["behaviour"]) in relevant
        mis = flagged and not is_rel
        verdict = "miscalibrated" if mis else "expected" if flagged else "no effect detected"
        findings.append(Finding(**f, q_value=q, relevant=is_rel, flagged=flagged,
                                miscalibrated=mis, verdict=verdict))
    findings.sort(key=lambda f: (not f.miscalibrated, not f.flagged, f.q_value, -abs(f.effect)))

    inter_raw: list[dict[str, Any]] = []
    for b in behaviours:
        rows = [{"prompt": s.prompt_index, "y": int(y), **s.cell} for s in ok
                if (y := _elicited(s, b)) is not None]
        inter_raw += fit_interactions(rows, features, b, alpha=0.05)
    iq = bh_qvalues([r["p_value"] for r in inter_raw])
    interactions = [Interaction(**r, q_value=q) for r, q in zip(inter_raw, iq, strict=True)]

    ranking = [RankEntry(**r) for r in bradley_terry(per_prompt, features, rng=rng)]
    scorer_errors = {b: sum(1 for s in ok if s.scores.get(b, {}).get("error")) for b in behaviours}
    return AuditReport(
        name=spec.name, target=target or {}, alpha=spec.alpha, min_effect=spec.min_effect,
        totals={"work_items": total, "completed": len(ok), "target_errors": len(samples) - len(ok),
                "missing": total - len(samples), "scorer_errors": scorer_errors},
        findings=findings, cells=cells, interactions=interactions, ranking=ranking,
        usage=usage or {}, method=METHOD,
        behaviours={n: b.model_dump(mode="json", exclude_none=True) for n, b in spec.behaviours.items()},
    )


def _cells(spec: ProbeSpec, ok: list[Sample], behaviours: list[str]) -> list[CellOut]:
    by_cell: dict[str, list[Sample]] = defaultdict(list)
    for s in ok:
        by_cell[cell_key(s.cell)].append(s)
    out = []
    for cell in spec.cells():
        key = cell_key(cell)
        group = by_cell.get(key, [])
        out.append(CellOut(cell_key=key, levels=cell, n=len(group),
                           rates={b: _rate(group, b) for b in behaviours},
                           examples=[_example(s) for s in group[:2]]))
    return out


def _effects(spec: ProbeSpec, ok: list[Sample], behaviours: list[str], rng: np.random.Generator,
             n_boot: int) -> tuple[list[dict[str, Any]], dict[tuple[int, str], dict[str, float]]]:
    raw: list[dict[str, Any]] = []
    per_prompt: dict[tuple[int, str], dict[str, float]] = defaultdict(dict)
    for fname, fspec in spec.features.items():
        base = fspec.baseline_level()
        others = [f for f in spec.features if f != fname]
        for b in behaviours:
            obs = [Observation(s.prompt_index, "|".join(s.cell[o] for o in others), s.cell[fname], y)
                   for s in ok if (y := _elicited(s, b)) is not None]
            for level in fspec.level_names():
                if level == base:
                    continue
                eff = paired_effect(obs, base, level, rng=rng, n_boot=n_boot)
                if eff is None:
                    continue
                for p, v in eff.per_prompt.items():
                    cur = per_prompt[(p, b)].get(fname, 0.0)
                    per_prompt[(p, b)][fname] = max(cur, abs(v))
                at = [s for s in ok if s.cell[fname] == base]
                lv = [s for s in ok if s.cell[fname] == level]
                raw.append({
                    "feature": fname, "level": level, "baseline": base, "behaviour": b,
                    "effect": eff.estimate, "ci_low": eff.ci_low, "ci_high": eff.ci_high,
                    "p_value": eff.p_value, "rate_baseline": _rate(at, b), "rate_level": _rate(lv, b),
                    "n_strata": eff.n_strata, "n_prompts": eff.n_prompts,
                    "examples": _contrast_examples(at, lv, b),
                })
    return raw, per_prompt


def _contrast_examples(at: list[Sample], lv: list[Sample], b: str) -> list[Example]:
    """One baseline sample without and one level sample with the behaviour, when they exist."""
    pick = [next((s for s in at if _elicited(s, b) is False), None),
            next((s for s in lv if _elicited(s, b) is True), None)]
    return [_example(s) for s in pick if s is not None]
