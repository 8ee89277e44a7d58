"""Audit use cases: create (audit + job in one transaction), execute (the audit.run task), read."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core.behaviours.base import Behaviour
from app.core.behaviours.registry import build_behaviour
from app.core.llm import Budget, ChatClient
from app.core.surf.factorial import RunOutcome, SampleResult, run_factorial
from app.core.surf.report import AuditReport
from app.core.surf.samples import Sample, to_jsonl
from app.core.surf.spec import ProbeSpec, parse_cell_key
from app.core.triggers.rewriter import CachedRewriter
from app.db.engine import transaction
from app.db.repositories import audits as repo
from app.db.repositories import jobs as jobs_repo
from app.db.tables import Audit, AuditResult
from app.db.types import utcnow
from app.errors import Conflict, Halted, InvalidInput, TargetFailed
from app.services import targets as targets_service
from app.services.auditor import ProgressFn, auditor_for, close_auditor, configured
from app.services.owners import Principal, visible
from app.services.validation import validate


def parse_spec(data: dict[str, Any], *, prefix: str = "spec", settings: Settings | None = None
               ) -> ProbeSpec:
    """Validate a probe spec; the error names the exact offending field. With settings, the
    operator's size limits apply too (prompts, planned samples)."""
    spec = validate(ProbeSpec, data, prefix=prefix)
    if settings is not None:
        if len(spec.prompts) > settings.max_prompts:
            raise InvalidInput(f"{prefix}.prompts: {len(spec.prompts)} prompts; this server takes at "
                               f"most {settings.max_prompts} (SURFTURF_MAX_PROMPTS)",
                               field=f"{prefix}.prompts")
        if spec.work_item_count() > settings.max_work_items:
            raise InvalidInput(f"{prefix}.design: the design expands to {spec.work_item_count()} "
                               f"samples; this server takes at most {settings.max_work_items} per audit "
                               "(SURFTURF_MAX_WORK_ITEMS)", field=f"{prefix}.design.samples_per_prompt")
    return spec


def fingerprint(spec: ProbeSpec, base_url: str, model: str) -> str:
    """The same spec against the same model is the same audit: a re-run resumes it. How fast it
    is sampled (design.concurrency) does not change what is measured, so it is left out."""
    dumped = spec.model_dump(mode="json")
    dumped["design"].pop("concurrency", None)
    blob = json.dumps({"spec": dumped, "base_url": base_url.rstrip("/"), "model": model},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def create(session: Session, settings: Settings, *, target_id: str, spec: dict[str, Any],
           who: Principal, max_attempts: int | None = None) -> Audit:
    """The job row commits with the audit it refers to, never before it."""
    parsed = parse_spec(spec, settings=settings)
    target = targets_service.get(session, target_id, who)
    if parsed.needs_auditor() and not configured(settings):
        raise InvalidInput("this spec needs an auditor model (rewrites or a judge): set "
                           "SURFTURF_AUDITOR_URL and SURFTURF_AUDITOR_MODEL, or "
                           "SURFTURF_AUDITOR_ENGINE=vllm and SURFTURF_AUDITOR_MODEL=smollm2",
                           field="spec")
    config = {"settings": settings.public_dict(), "work_items": parsed.work_item_count()}
    audit = repo.add(session, name=parsed.name, target_id=target.id, owner=target.owner,
                     spec=parsed.model_dump(mode="json"), config=config,
                     fingerprint=fingerprint(parsed, target.base_url, target.model))
    job = jobs_repo.enqueue(session, "audit.run", {"audit_id": audit.id}, owner=target.owner,
                            max_attempts=max_attempts or settings.job_max_attempts)
    audit.job_id = job.id
    return audit


def get(session: Session, audit_id: str, who: Principal | None = None) -> Audit:
    return visible(repo.get(session, audit_id), who, "audit", audit_id)


def unfinished_twin(session: Session, spec: ProbeSpec, base_url: str, model: str, who: Principal
                    ) -> Audit | None:
    """The latest audit of this spec against this model, if it has no report yet."""
    row = repo.latest_with_fingerprint(session, fingerprint(spec, base_url, model), who.owner)
    return row if row is not None and row.report is None else None


def resume(session: Session, settings: Settings, audit_id: str, who: Principal) -> Audit:
    """Queue a cancelled or failed audit again; it continues from its stored samples."""
    row = get(session, audit_id, who)
    job = jobs_repo.get(session, row.job_id or "")
    if row.report is not None:
        raise Conflict(f"audit {audit_id} is complete; run the spec again for a new audit")
    if job is not None and job.status in ("cancelled", "failed"):
        jobs_repo.requeue(session, job.id, settings.job_max_attempts)
    return row


def stored_samples(session: Session, audit_id: str) -> int:
    return repo.count_results(session, audit_id)


def list_audits(session: Session, who: Principal, *, limit: int, offset: int) -> list[Audit]:
    return repo.list_audits(session, owner=who.scope, limit=limit, offset=offset)


def report(session: Session, audit_id: str, who: Principal) -> dict[str, Any]:
    row = get(session, audit_id, who)
    if row.report is None:
        job = jobs_repo.get(session, row.job_id or "")
        if job is not None and job.status in ("failed", "cancelled"):
            raise Conflict(f"audit {audit_id} {job.status} without a report: {job.error or 'no error'}")
        raise Conflict(f"audit {audit_id} has no report yet; poll GET /v1/audits/{audit_id}")
    return row.report


def build_behaviours(spec: ProbeSpec, auditor: ChatClient | None) -> dict[str, Behaviour]:
    return {name: build_behaviour(*b.scorer(), client=auditor) for name, b in spec.behaviours.items()}


def _to_row(r: SampleResult) -> dict[str, Any]:
    return {"cell_key": r.item.cell_key, "prompt_index": r.item.prompt_index,
            "sample_index": r.item.sample_index, "seed": r.item.seed, "messages": r.messages,
            "response": r.response, "scores": r.scores, "error": r.error,
            "latency_ms": r.latency_ms, "created_at": utcnow()}


def _sample(r: AuditResult) -> Sample:
    return Sample(parse_cell_key(r.cell_key), r.prompt_index, r.sample_index, r.messages, r.response,
                  r.scores, r.error)


def load_samples(session: Session, audit_id: str) -> list[Sample]:
    return [_sample(r) for r in repo.iter_results(session, audit_id)]


def export_samples(factory: sessionmaker[Session], audit_id: str, who: Principal | None = None
                   ) -> Iterator[str]:
    """Every stored sample as JSONL (the `audit analyze` format), streamed from the database."""
    with transaction(factory) as s:
        get(s, audit_id, who)
    with transaction(factory) as s:
        yield from to_jsonl(_sample(r) for r in repo.iter_results(s, audit_id))


async def rescore(spec: ProbeSpec, samples: list[Sample], auditor: ChatClient | None = None) -> int:
    """Score behaviours a sample lacks, from its response; returns how many scores were added."""
    missing = [(s, b) for s in samples for b in spec.behaviours
               if b not in s.scores and s.response is not None and s.error is None]
    if not missing:
        return 0
    needs = {b for _, b in missing}
    scorers = {n: b for n, b in build_behaviours(spec, auditor).items() if n in needs}
    for s, b in missing:
        prompt = s.messages[-1]["content"] if s.messages else ""
        s.scores[b] = (await scorers[b].score(s.response or "", prompt=prompt)).as_dict()
    return len(missing)


def analyze_samples(spec: ProbeSpec, samples: Iterable[Sample], auditor: ChatClient | None = None
                    ) -> AuditReport:
    """Re-analyse samples gathered earlier or elsewhere; no target is called."""
    from app.core.surf.analysis import analyze  # scipy/statsmodels: imported where analysis runs

    items = list(samples)
    asyncio.run(rescore(spec, items, auditor))
    return analyze(spec, items, total=spec.work_item_count())


Guard = Callable[[Session], None]  # raises inside a transaction when this attempt may not write


def _no_guard(_: Session) -> None:
    return None


def _usage_total(per_attempt: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Sum usage over every attempt of the job: a crash and retry cost real target calls too."""
    total: dict[str, Any] = {"attempts": len(per_attempt), "errors": {}}
    for usage in per_attempt.values():
        for k, v in usage.items():
            if k == "errors":
                for kind, n in v.items():
                    total["errors"][kind] = total["errors"].get(kind, 0) + n
            elif isinstance(v, int | float):
                total[k] = total.get(k, 0) + v
    return total


async def preflight(settings: Settings, target: Any) -> None:
    """One call before any sampling: an unreachable or refusing target fails in seconds, with its
    own message, rather than after minutes of retries across every sample."""
    result = await targets_service.check(settings, target)
    if not result["ok"]:
        raise TargetFailed(f"target preflight failed: {result['error']}")


async def execute(factory: sessionmaker[Session], settings: Settings, audit_id: str,
                  progress: ProgressFn, *, attempt: int = 1, guard: Guard = _no_guard,
                  halt: asyncio.Event | None = None) -> dict[str, Any]:
    """Run the missing samples, then analyse everything stored; safe to re-run after a crash.

    A sequential design samples round by round and stops once no finding is left inconclusive.
    Every write is fenced by `guard`, so an attempt that lost its lease stores nothing. When
    `halt` is set, the samples in flight are stored and Halted is raised (no analysis)."""

    def load() -> tuple[Audit, Any, set[tuple[str, int, int]], ProbeSpec]:
        with transaction(factory) as s:
            audit = get(s, audit_id)
            spec = ProbeSpec.model_validate(audit.spec)  # here, not on the event loop: specs get big
            return audit, targets_service.get(s, audit.target_id), repo.done_keys(s, audit_id), spec

    def stored() -> list[Sample]:
        with transaction(factory) as s:
            return load_samples(s, audit_id)

    audit, target, done, spec = await asyncio.to_thread(load)
    total = spec.work_item_count()
    if len(done) < total:
        await progress(len(done), total, "checking the target")
        await preflight(settings, target)
    client = targets_service.make_client(settings, target, concurrency=spec.design.concurrency,
                                         budget=Budget(max_requests=spec.design.max_requests))
    judge = auditor_for(settings, spec.needs_auditor())
    rewriter = CachedRewriter(judge, settings.data_dir / "rewrites.jsonl") if judge else None
    behaviours = build_behaviours(spec, judge)
    max_rounds = spec.design.max_rounds()
    state = {"round": 1, "open": ""}

    def record_usage(s: Session) -> dict[str, Any]:
        row = get(s, audit_id)
        usage = {**(row.config or {}).get("usage_by_attempt", {}), str(attempt): client.usage.as_dict()}
        row.config = {**(row.config or {}), "usage_by_attempt": usage}
        return usage

    async def sink(batch: list[SampleResult]) -> None:
        def write() -> None:
            with transaction(factory) as s:
                guard(s)
                repo.save_results(s, audit_id, [_to_row(r) for r in batch])
                record_usage(s)

        await asyncio.to_thread(write)
        done.update(r.item.key for r in batch if r.error is None)

    async def report_progress(done_n: int, total_n: int) -> None:
        where = f"round {state['round']}/{max_rounds}: " if max_rounds > 1 else ""
        await progress(done_n, total_n, f"{where}sampled {done_n}/{total_n}{state['open']}")

    stopped = "budget: every planned sample taken"
    outcome = RunOutcome()
    try:
        for r in range(1, max_rounds + 1):
            state["round"] = r
            outcome = await run_factorial(spec, client, behaviours, sink=sink, done=done,
                                          rewriter=rewriter, progress=report_progress,
                                          samples_limit=spec.design.samples_after(r), halt=halt)
            if outcome.halted:
                raise Halted(f"audit {audit_id} halted with {len(done)}/{total} samples stored")
            if outcome.stopped_reason:
                stopped = outcome.stopped_reason
                break
            if r < max_rounds:
                still, members = await asyncio.to_thread(_open_findings, spec, stored)
                if not still:
                    stopped = f"every finding decided after round {r}"
                    break
                state["open"] = (f"; {len(still)} of {members} findings open: "
                                 + ", ".join(still[:4]) + (" …" if len(still) > 4 else ""))
    finally:
        await client.aclose()
        await close_auditor(settings, judge)
    await progress(len(done), total, "analysing")

    def finish() -> tuple[AuditReport, str | None]:
        from app.core.surf.analysis import analyze
        from app.services import events

        samples = stored()
        first_error = next((x.error for x in samples if x.error), None)
        with transaction(factory) as s:
            usage = _usage_total(record_usage(s))
        report = analyze(spec, samples, total=total, usage=usage, audit_id=audit_id,
                         target={"base_url": target.base_url, "model": target.model},
                         stopped=stopped if spec.design.kind == "sequential" else None)
        problem = _error_share_problem(report, spec, first_error)
        with transaction(factory) as s:
            guard(s)
            row = get(s, audit_id)
            row.report = report.model_dump(mode="json")
            row.finished_at = utcnow()
            if problem is None:  # a failed audit is announced by the runner, as audit.failed
                events.audit_finished(s, settings, row, report)
        return report, problem

    report, problem = await asyncio.to_thread(finish)
    if problem is not None:
        raise TargetFailed(problem)
    await progress(len(done), total, f"done: {stopped}" if spec.design.kind == "sequential" else "done")
    return {"audit_id": audit_id, "findings": len(report.findings),
            "flagged": sum(f.flagged for f in report.findings),
            "miscalibrated": sum(f.miscalibrated for f in report.findings),
            "target_errors": report.totals.target_errors, "stopped_reason": outcome.stopped_reason}


def _open_findings(spec: ProbeSpec, stored: Callable[[], list[Sample]]) -> tuple[list[str], int]:
    """(findings still open, family size), in a worker thread: the analysis imports scipy."""
    from app.core.surf.analysis import family, open_members

    return open_members(spec, stored()), len(family(spec))


def _error_share_problem(report: AuditReport, spec: ProbeSpec, first_error: str | None) -> str | None:
    """An audit that mostly measured the target's errors is a failure, not a result to act on."""
    done, errors = report.totals.completed, report.totals.target_errors
    attempted = done + errors
    if attempted and done == 0:
        return f"no successful sample: all {errors} target calls failed; first: {first_error}"
    share = errors / attempted if attempted else 0.0
    if share > spec.design.max_error_rate:
        return (f"{errors} of {attempted} samples ({share:.0%}) ended in a target error, over "
                f"design.max_error_rate {spec.design.max_error_rate:.0%}; first: {first_error} "
                "(the report keeps what was gathered)")
    return None
