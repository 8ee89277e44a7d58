"""The toy-model lab on the embedded default: build LM organisms, audit each with one probe spec,
read the effects across them (sweeps) or before/after removing traced data (ablation).

Every organism is built under DATA_DIR/organisms/built/KEY (KEY: the content address of its
spec), so a sweep point, an ablation or a rerun that asks for the same organism reuses its data
and adapter; each (organism, probe spec) audit's finding is kept beside it, so an interrupted
sweep resumes at the first point it had not finished."""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from app.config import Settings
from app.core.organisms.build import build_organism
from app.core.organisms.salience import SalienceSpec
from app.core.organisms.spec import OrganismSpec
from app.core.organisms.sweep import SweepSpec, spec_key
from app.core.surf.spec import ProbeSpec

AXIS_MEANING = {"presence": "the share of the behaviour chunk's prompts that carry the trigger",
                "dilution": "the share of the other chunks' prompts that carry it too"}


def _log(msg: str) -> None:
    tqdm.write(msg, file=sys.stderr)


def organism_folder(settings: Settings, spec: OrganismSpec) -> Path:
    return settings.data_dir / "organisms" / "built" / spec_key(spec)


def probe_key(probe: ProbeSpec) -> str:
    """What the audit depends on: its name does not change a sample, and a field a later version
    adds with its default does not either (so a cached audit outlives an upgrade)."""
    doc = probe.model_dump(mode="json", exclude={"name"}, exclude_defaults=True)
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]


# (probe spec, target base URL, model name) -> the finished audit's report. The CLI runs each audit
# as the embedded default does (its own job and in-process worker); a worker running a sweep job
# runs them inline, in its own job, because the organism is served on its own loopback.
AuditFn = Callable[[ProbeSpec, str, str], Awaitable[dict[str, Any]]]
ProgressFn = Callable[[int, int, str], Awaitable[None]]


def embedded_audit(settings: Settings) -> AuditFn:
    async def audit(probe: ProbeSpec, url: str, model: str) -> dict[str, Any]:
        from app.embedded import run_audit_embedded

        report = await asyncio.to_thread(run_audit_embedded, settings, probe, target_url=url,
                                         target_model=model, new=True)
        if report is None:
            raise RuntimeError(f"the audit of organism {model} did not finish")
        return report

    return audit


async def audit_organism(settings: Settings, folder: Path, name: str, probe: ProbeSpec,
                         audit: AuditFn) -> dict[str, Any]:
    """One audit of a built organism served on loopback from this process; its report."""
    from app.model_server import lm_organism_app
    from app.serving import serve_in_thread

    app = await asyncio.to_thread(lm_organism_app, settings.data_dir, folder, name)
    try:
        with serve_in_thread(app) as url:
            return await audit(probe, url + "/v1", name)
    finally:
        del app
        gc.collect()  # the model's weights go before the next organism's load


def finding_of(report: dict[str, Any], feature: str, level: str, behaviour: str) -> dict[str, Any]:
    for f in report["findings"]:
        if (f["feature"], f["level"], f["behaviour"]) == (feature, level, behaviour):
            return dict(f)
    raise KeyError(f"the report has no finding {feature}={level} → {behaviour}")


async def built_and_audited(settings: Settings, spec: OrganismSpec, probe: ProbeSpec, answers: str,
                            audit: AuditFn, log: Callable[[str], None] = _log) -> tuple[Path, dict[str, Any]]:
    """(folder, audit record): built and audited once, read back after."""
    folder = organism_folder(settings, spec)
    record = folder / f"audit-{probe_key(probe)}.json"
    if record.exists():
        return folder, json.loads(record.read_text(encoding="utf-8"))
    started = time.perf_counter()
    built = await asyncio.to_thread(build_organism, spec, folder, settings.data_dir, answers=answers, log=log)
    built_at = time.perf_counter()
    report = await audit_organism(settings, folder, spec.name, probe, audit)
    doc = {"organism": spec.name, "folder": str(folder), "audit_id": report["audit_id"],
           "build_seconds": round(built_at - started, 1), "train_seconds": built.get("seconds"),
           "audit_seconds": round(time.perf_counter() - built_at, 1), "report": report}
    record.write_text(json.dumps(doc), encoding="utf-8")
    return folder, doc


async def _no_progress(done: int, total: int, message: str) -> None:
    return None


async def run_sweep(settings: Settings, sweep: SweepSpec, audit: AuditFn, log: Callable[[str], None] = _log,
                    progress: ProgressFn = _no_progress) -> dict[str, Any]:
    """sweep.json: each point's finding, and the meta-regression of effect on the swept share."""
    from app.core.stats.meta import meta_regression

    s = sweep.sweep
    feature = sweep.probe_feature()
    started = time.perf_counter()
    points: list[dict[str, Any]] = []
    planned = sweep.points()
    bar = tqdm(planned, desc=f"sweep {sweep.name}", unit="organism", disable=None)
    for k, (value, seed) in enumerate(bar):
        variant = sweep.variant(value, seed)
        await progress(k, len(planned), f"organism {k + 1}/{len(planned)}: {variant.name}")
        _, rec = await built_and_audited(settings, variant, sweep.probe, sweep.answers, audit, log)
        f = finding_of(rec["report"], feature, s.level, s.behaviour)
        points.append({"value": value, "seed": seed, "effect": f["effect"], "se": f["se"],
                       "ci_low": f["ci_low"], "ci_high": f["ci_high"], "n_prompts": f["n_prompts"],
                       "verdict": f["verdict"], "reason": f.get("reason"), "audit_id": rec["audit_id"],
                       "organism": rec["organism"], "organism_dir": rec["folder"],
                       "build_seconds": rec["build_seconds"],
                       "audit_seconds": rec["audit_seconds"]})
    await progress(len(planned), len(planned), "meta-regression")
    usable = [p for p in points if p["effect"] is not None and p["se"] is not None]
    trend, why = None, None
    try:
        trend = meta_regression([p["value"] for p in usable], [p["effect"] for p in usable],
                                [p["se"] for p in usable]).as_dict()
    except ValueError as exc:
        why = str(exc)
    return {"name": sweep.name, "axis": s.axis, "axis_meaning": AXIS_MEANING[s.axis], "chunk": s.chunk,
            "feature": feature, "trigger": f"{s.feature}={s.level}", "level": s.level,
            "behaviour": s.behaviour, "seeds": s.seeds, "answers": sweep.answers, "points": points,
            "trend": trend, "trend_reason": why, "wall_seconds": round(time.perf_counter() - started, 1)}


async def _audited(settings: Settings, folder: Path, name: str, probe: ProbeSpec, record: Path,
                   audit: AuditFn) -> dict[str, Any]:
    if record.exists():
        return dict(json.loads(record.read_text(encoding="utf-8")))
    report = await audit_organism(settings, folder, name, probe, audit)
    record.write_text(json.dumps(report), encoding="utf-8")
    return report


async def ablate_organism(settings: Settings, folder: Path, trace: dict[str, Any], probe: ProbeSpec,
                          out: Path, audit: AuditFn, *, mode: str = "drop", chunk: str | None = None,
                          log: Callable[[str], None] = _log) -> dict[str, Any]:
    """Retrain the organism without what the trace blamed, audit both with the same spec on the
    same prompts, and compare them paired by prompt. Each step's output is kept in `out`, so a
    rerun resumes where it stopped."""
    import yaml

    from app.audits import use_cases as audits
    from app.core.organisms.ablation import ablate
    from app.core.turf.ablation import traced_chunk, traced_trigger
    from app.embedded import with_session

    spec = OrganismSpec.from_file(folder / "spec.yaml")
    rows = [json.loads(line) for line in (folder / "data.jsonl").read_text(encoding="utf-8").splitlines()
            if line.strip()]
    blamed = traced_chunk(trace, chunk)
    # scrubbing renders prompts again (asyncio.run of its own): off this event loop
    new_spec, new_rows, change = await asyncio.to_thread(ablate, spec, rows, blamed, mode,  # type: ignore[arg-type]
                                                         traced_trigger(trace) if mode == "scrub" else None)
    out.mkdir(parents=True, exist_ok=True)
    name = str((yaml.safe_load((folder / "organism.yaml").read_text(encoding="utf-8")) or {}).get("name")
               or spec.name)
    log(f"auditing {name} as it is")
    before = await _audited(settings, folder, name, probe, out / "before.json", audit)
    log(f"retraining without {change}")
    ablated = out / "ablated"
    built = await asyncio.to_thread(build_organism, new_spec, ablated, settings.data_dir,
                                    answers=f"ablated:{mode}", rows=new_rows, log=log)
    log(f"auditing {new_spec.name}")
    after = await _audited(settings, ablated, new_spec.name, probe, out / "after.json", audit)
    # the comparison renders prompts with asyncio.run of its own: off this event loop
    compare = await asyncio.to_thread(
        with_session, settings, lambda s: audits.compare(s, before["audit_id"], after["audit_id"], None))
    (out / "compare.json").write_text(json.dumps(compare, indent=2), encoding="utf-8")
    doc = {"organism": name, "ablated": new_spec.name, "change": change,
           "train_seconds": built.get("seconds"),
           "before_audit_id": before["audit_id"], "after_audit_id": after["audit_id"], "compare": compare}
    (out / "ablation.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    return doc


async def run_salience(settings: Settings, spec: SalienceSpec, audit: AuditFn,
                       log: Callable[[str], None] = _log) -> dict[str, Any]:
    """One organism per pair of features, each audited on the held-out prompts; who wins each
    conflict, per prompt; a Bradley–Terry ranking over all of them beside the post's order."""
    import numpy as np

    from app.audits import sample_reader
    from app.core.organisms.salience import POST_TIERS, conflict_scores, not_plantable
    from app.core.stats.ranking import conflict_ranking
    from app.embedded import with_session

    names = [t.feature for t in spec.features]
    started = time.perf_counter()
    conflicts, scores = [], {}
    first_wins = total = 0.0
    for pair in tqdm(spec.pairs(), desc=f"salience {spec.name}", unit="organism", disable=None):
        i, j, _ = pair
        _, rec = await built_and_audited(settings, spec.organism(pair), spec.probe(pair), spec.answers, audit,
                                         log)
        audit_id = str(rec["audit_id"])
        samples = with_session(settings, lambda s: sample_reader.load(s, audit_id))  # noqa: B023 (called at once)
        x = conflict_scores(samples, spec, pair)
        scores[(i, j)] = x
        own = {}
        for k in (i, j):
            t, b = spec.features[k], spec.behaviour_of(pair, k)
            f = finding_of(rec["report"], t.feature, t.level, b)
            own[t.feature] = {"behaviour": b, "effect": f["effect"], "ci_low": f["ci_low"],
                              "ci_high": f["ci_high"]}
        a_wins = sum(v > 0 for v in x.values()) + 0.5 * sum(v == 0 for v in x.values())
        holder = i if spec.behaviour_of(pair, i) == spec.behaviours[0] else j
        first_wins += a_wins if holder == i else len(x) - a_wins
        total += len(x)
        conflicts.append({"a": names[i], "b": names[j], "behaviour_a": spec.behaviour_of(pair, i),
                          "behaviour_b": spec.behaviour_of(pair, j), "prompts": len(x), "a_wins": a_wins,
                          "mean_difference": float(np.mean(list(x.values()))) if x else None,
                          "own_effects": own, "audit_id": rec["audit_id"], "organism": rec["organism"],
                          "build_seconds": rec["build_seconds"], "audit_seconds": rec["audit_seconds"]})
    ranking = conflict_ranking(scores, names, rng=np.random.default_rng(spec.seed))
    for r in ranking:
        r["post_tier"] = POST_TIERS.get(str(r["feature"]), "not in the post's summary")
    return {"name": spec.name, "features": [f"{t.feature}={t.level}" for t in spec.features],
            "behaviours": list(spec.behaviours), "conflicts": conflicts, "ranking": ranking,
            "behaviour_bias": {"behaviour": spec.behaviours[0],
                               "share_of_conflicts_won": first_wins / total if total else None},
            "method": "per prompt, the both-features cell: the feature whose behaviour's rate is higher "
                      "wins (ties half); Bradley–Terry (ridge 0.01), 95% percentile bootstrap over prompts",
            "post_order": "tag formatting, language and assistant implied role strongest; topic and user "
                          "role weak; demographics weakest (shared/RESEARCH.md)",
            "not_plantable": not_plantable(), "wall_seconds": round(time.perf_counter() - started, 1)}
