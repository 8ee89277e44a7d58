"""The audit.run and audit.chunk tasks: sample the target, store each sample once, analyse once.

An audit bigger than its chunk size (fixed at creation: config["chunk_size"]) is sampled by
chunk jobs, each a slice of the design's order that any worker may take with the usual lease,
heartbeat, fencing and retry. The audit's own job fans them out, checks on them without holding
a worker slot (Waiting), shows their summed progress, and analyses once every chunk succeeded.
Smaller audits and sequential ones (each round needs an analysis) run in their own job."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.audits import analysis_calls as calls
from app.audits import analysis_process
from app.audits.use_cases import build_behaviours, get, regressions
from app.config import Settings
from app.core.jobs import JobKind
from app.core.llm import Budget
from app.core.surf.chunks import Part, plan_chunks
from app.core.surf.factorial import RunOutcome, SampleResult, run_factorial
from app.core.surf.report import AuditReport
from app.core.surf.spec import ProbeSpec
from app.core.triggers.rewriter import CachedRewriter
from app.db.engine import transaction, url_of
from app.db.repositories import audits as repo
from app.db.repositories import jobs as jobs_repo
from app.db.tables import Audit, Target
from app.db.types import utcnow
from app.errors import Halted, SurfturfError, TargetFailed, Waiting
from app.jobs.context import JobContext
from app.jobs.registry import task
from app.services import auditor
from app.services import targets as targets_service
from app.services.auditor import ProgressFn, auditor_for, close_auditor

Guard = Callable[[Session], None]  # raises inside a transaction when this attempt may not write
EVERY_SAMPLE = "budget: every planned sample taken"


class ChunkFailed(SurfturfError):
    status_code = 500
    code = "chunk_failed"


def _no_guard(_: Session) -> None:
    return None


def _to_row(r: SampleResult) -> dict[str, Any]:
    return {"cell_key": r.item.cell_key, "prompt_index": r.item.prompt_index,
            "sample_index": r.item.sample_index, "seed": r.item.seed, "messages": r.messages,
            "response": r.response, "scores": r.scores, "error": r.error,
            "latency_ms": r.latency_ms, "created_at": utcnow()}


def _usage_total(per_attempt: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Sum usage over every attempt that sampled (each chunk's, in a chunked audit): a crash and
    retry cost real target calls too."""
    total: dict[str, Any] = {"attempts": len(per_attempt), "errors": {}}
    for usage in per_attempt.values():
        for k, v in usage.items():
            if k == "errors":
                for kind, n in v.items():
                    total["errors"][kind] = total["errors"].get(kind, 0) + n
            elif isinstance(v, int | float):
                total[k] = total.get(k, 0) + v
    return total


async def preflight(settings: Settings, target: Any, *, needs_auditor: bool = False,
                    query_model: bool = False) -> None:
    """One call before any sampling: an unreachable or refusing target (or auditor model, when
    the work needs one) fails in seconds, with its own message, rather than after minutes of
    retries across every sample."""
    result = await targets_service.check(settings, target)
    if not result["ok"]:
        raise TargetFailed(f"target preflight failed: {result['error']}")
    problem = await auditor.check(settings, needs_auditor, query_model=query_model)
    if problem:
        raise TargetFailed(f"auditor model preflight failed ({settings.auditor_url}): {problem}")


class _Loaded:
    """What every attempt reads first, in a worker thread (specs get big)."""

    def __init__(self, factory: sessionmaker[Session], audit_id: str) -> None:
        with transaction(factory) as s:
            audit = get(s, audit_id)
            self.spec = ProbeSpec.model_validate(audit.spec)
            self.target: Target = targets_service.get(s, audit.target_id)
            self.done = repo.done_keys(s, audit_id)
            self.config: dict[str, Any] = dict(audit.config or {})
            self.job_id = audit.job_id
        self.total = self.spec.work_item_count()
        self.parts = plan_chunks(self.spec, int(self.config.get("chunk_size", 0)))


UsageStore = Callable[[Session, dict[str, Any]], dict[str, dict[str, Any]]]


def _audit_usage(audit_id: str, key: str) -> UsageStore:
    """An audit run in its own job keeps each attempt's usage in its config (one writer)."""
    def store(s: Session, usage: dict[str, Any]) -> dict[str, dict[str, Any]]:
        row = get(s, audit_id)
        merged = {**(row.config or {}).get("usage_by_attempt", {}), key: usage}
        row.config = {**(row.config or {}), "usage_by_attempt": merged}
        return merged
    return store


def _chunk_usage(job_id: str, key: str) -> UsageStore:
    """A chunk keeps its attempts' usage on its own job row: chunks never write the audit row,
    which they would otherwise all contend for (and lose updates to, on SQLite)."""
    def store(s: Session, usage: dict[str, Any]) -> dict[str, dict[str, Any]]:
        job = jobs_repo.get(s, job_id)
        assert job is not None
        merged = {**(job.result or {}).get("usage_by_attempt", {}), key: usage}
        job.result = {**(job.result or {}), "usage_by_attempt": merged}
        return merged
    return store


class _Sampler:
    """One attempt's target client, auditor and scorers; every batch it stores is fenced by
    `guard` and records this attempt's usage through `usage_store`."""

    def __init__(self, factory: sessionmaker[Session], settings: Settings, audit_id: str,
                 loaded: _Loaded, usage_store: UsageStore, guard: Guard) -> None:
        self.factory, self.settings, self.audit_id = factory, settings, audit_id
        self.spec, self.done, self.guard = loaded.spec, loaded.done, guard
        self.usage_store = usage_store
        self.usage: dict[str, dict[str, Any]] = {}
        self.client = targets_service.make_client(
            settings, loaded.target, concurrency=self.spec.design.concurrency,
            budget=Budget(max_requests=self.spec.design.max_requests))
        self.judge = auditor_for(settings, self.spec.needs_auditor())
        self.rewriter = (CachedRewriter(self.judge, settings.data_dir / "rewrites.jsonl")
                         if self.judge else None)
        self.behaviours = build_behaviours(self.spec, self.judge)

    def record_usage(self, s: Session) -> dict[str, dict[str, Any]]:
        self.usage = self.usage_store(s, self.client.usage.as_dict())
        return self.usage

    async def run(self, progress: Callable[[int, int], Any], *, halt: asyncio.Event | None,
                  samples_limit: int | None = None, part: Part | None = None) -> RunOutcome:
        async def sink(batch: list[SampleResult]) -> None:
            def write() -> None:
                with transaction(self.factory) as s:
                    self.guard(s)
                    repo.save_results(s, self.audit_id, [_to_row(r) for r in batch])
                    self.record_usage(s)

            await asyncio.to_thread(write)
            self.done.update(r.item.key for r in batch if r.error is None)

        return await run_factorial(self.spec, self.client, self.behaviours, sink=sink, done=self.done,
                                   rewriter=self.rewriter, progress=progress, halt=halt,
                                   samples_limit=samples_limit, part=part)

    async def aclose(self) -> None:
        await self.client.aclose()
        await close_auditor(self.settings, self.judge)


async def execute(factory: sessionmaker[Session], settings: Settings, audit_id: str,
                  progress: ProgressFn, *, attempt: int = 1, guard: Guard = _no_guard,
                  halt: asyncio.Event | None = None) -> dict[str, Any]:
    """Run the missing samples (or see to the chunks that do), then analyse everything stored;
    safe to re-run after a crash.

    A sequential design samples round by round and stops once no finding is left inconclusive.
    When `halt` is set, the samples in flight are stored and Halted is raised (no analysis)."""
    loaded = await asyncio.to_thread(_Loaded, factory, audit_id)
    if loaded.parts:
        return await _coordinate(factory, settings, audit_id, loaded, progress, guard)
    spec, total = loaded.spec, loaded.total
    if len(loaded.done) < total:
        await progress(len(loaded.done), total, "checking the target")
        await preflight(settings, loaded.target, needs_auditor=spec.needs_auditor())
    sampler = _Sampler(factory, settings, audit_id, loaded, _audit_usage(audit_id, str(attempt)), guard)
    max_rounds = spec.design.max_rounds()
    state = {"round": 1, "open": ""}

    async def report_progress(done_n: int, total_n: int) -> None:
        where = f"round {state['round']}/{max_rounds}: " if max_rounds > 1 else ""
        await progress(done_n, total_n, f"{where}sampled {done_n}/{total_n}{state['open']}")

    stopped = EVERY_SAMPLE
    outcome = RunOutcome()
    try:
        for r in range(1, max_rounds + 1):
            state["round"] = r
            outcome = await sampler.run(report_progress, halt=halt,
                                        samples_limit=spec.design.samples_after(r))
            if outcome.halted:
                raise Halted(f"audit {audit_id} halted with {len(loaded.done)}/{total} samples stored")
            if outcome.stopped_reason:
                stopped = outcome.stopped_reason
                break
            if r < max_rounds:
                still, members = await asyncio.to_thread(_open_findings, spec, factory, audit_id,
                                                         settings)
                if not still:
                    stopped = f"every finding decided after round {r}"
                    break
                state["open"] = (f"; {len(still)} of {members} findings open: "
                                 + ", ".join(still[:4]) + (" …" if len(still) > 4 else ""))
    finally:
        await sampler.aclose()
    await progress(len(loaded.done), total, "analysing")
    report = await asyncio.to_thread(_finish, factory, settings, audit_id, loaded, guard,
                                     sampler.record_usage, stopped)
    sequential = spec.design.kind == "sequential"
    await progress(len(loaded.done), total, f"done: {stopped}" if sequential else "done")
    return _summary(audit_id, report, outcome.stopped_reason)


async def execute_chunk(factory: sessionmaker[Session], settings: Settings, audit_id: str,
                        chunk: int, progress: ProgressFn, *, job_id: str, attempt: int = 1,
                        guard: Guard = _no_guard, halt: asyncio.Event | None = None) -> dict[str, Any]:
    """Sample one chunk's missing items; the audit's own job shows the sum and analyses."""
    loaded = await asyncio.to_thread(_Loaded, factory, audit_id)
    part = loaded.parts[chunk]
    sampler = _Sampler(factory, settings, audit_id, loaded,
                       _chunk_usage(job_id, f"chunk {chunk}: {attempt}"), guard)
    label = f"chunk {chunk + 1}/{len(loaded.parts)}"

    def note_total() -> None:
        with transaction(factory) as s:
            n = repo.count_results(s, audit_id)
            jobs_repo.note_progress(s, loaded.job_id or "", n, f"sampled {n}/{loaded.total} "
                                    f"in {len(loaded.parts)} chunks")

    async def report(done_n: int, total_n: int) -> None:
        await progress(done_n, total_n, f"{label}: sampled {done_n}/{total_n}")
        await asyncio.to_thread(note_total)

    try:
        outcome = await sampler.run(report, halt=halt, part=part)
    finally:
        await sampler.aclose()
    if outcome.halted:
        raise Halted(f"audit {audit_id} {label} halted")
    return {"audit_id": audit_id, "chunk": chunk, "items": part[1] - part[0],
            "attempted": outcome.attempted, "target_errors": outcome.failed,
            "usage_by_attempt": sampler.usage}  # the runner stores this as the job's result


async def _coordinate(factory: sessionmaker[Session], settings: Settings, audit_id: str,
                      loaded: _Loaded, progress: ProgressFn, guard: Guard) -> dict[str, Any]:
    """Fan the chunks out once; then, each time this job runs, sum their progress and either wait
    (Waiting: no worker slot held, no attempt spent), fail on a chunk that failed for good, or,
    once every chunk succeeded, analyse."""
    if not loaded.config.get("chunk_jobs") and len(loaded.done) < loaded.total:
        await progress(len(loaded.done), loaded.total, "checking the target")
        await preflight(settings, loaded.target, needs_auditor=loaded.spec.needs_auditor())
    analysis_process.warm(settings.analysis_process)  # ready when the last chunk is

    def look() -> tuple[list[tuple[str, str | None]], int]:
        with transaction(factory) as s:
            guard(s)  # this job's row, held to commit: one fan-out, whoever runs it
            row = get(s, audit_id)
            ids = (row.config or {}).get("chunk_jobs")
            if not ids:
                ids = [jobs_repo.enqueue(s, JobKind.audit_chunk, {"audit_id": audit_id, "chunk": i},
                                         owner=row.owner, max_attempts=settings.job_max_attempts).id
                       for i in range(len(loaded.parts))]
                row.config = {**(row.config or {}), "chunk_jobs": ids}
            jobs = [jobs_repo.get(s, i) for i in ids]
            chunks = [(j.status, j.error) if j else ("failed", "chunk job missing") for j in jobs]
            stored = repo.count_results(s, audit_id)
            counts = {k: sum(st == k for st, _ in chunks) for k in ("succeeded", "running", "queued")}
            jobs_repo.note_progress(s, row.job_id or "", stored, f"sampled {stored}/{loaded.total} in "
                                    f"{len(chunks)} chunks: {counts['succeeded']} done, "
                                    f"{counts['running']} running, {counts['queued']} queued",
                                    total=loaded.total)
            return chunks, stored

    chunks, stored = await asyncio.to_thread(look)
    n = len(chunks)
    for i, (status, error) in enumerate(chunks):
        if status in jobs_repo.RESUMABLE:
            raise ChunkFailed(f"chunk {i + 1}/{n} of audit {audit_id} {status}: {error or 'no error'}; "
                              "resume the audit to run it again")
    done_chunks = sum(st == "succeeded" for st, _ in chunks)
    if done_chunks < n:
        raise Waiting(settings.audit_poll_seconds, f"{n - done_chunks} chunks to go")
    await progress(stored, loaded.total, "analysing")

    def usage(s: Session) -> dict[str, dict[str, Any]]:
        ids = (get(s, audit_id).config or {}).get("chunk_jobs", [])
        return {k: v for j in ids if (job := jobs_repo.get(s, j)) is not None
                for k, v in (job.result or {}).get("usage_by_attempt", {}).items()}

    report = await asyncio.to_thread(_finish, factory, settings, audit_id, loaded, guard, usage,
                                     EVERY_SAMPLE)
    await progress(stored, loaded.total, "done")
    return {**_summary(audit_id, report, None), "chunks": n}


def _finish(factory: sessionmaker[Session], settings: Settings, audit_id: str, loaded: _Loaded,
            guard: Guard, usage: Callable[[Session], dict[str, dict[str, Any]]], stopped: str
            ) -> AuditReport:
    """Analyse every stored sample (in the analysis process) and store the report, once; a
    worker thread."""
    from app.webhooks import events

    with transaction(factory) as s:
        per_attempt = usage(s)
        first_error = repo.first_error(s, audit_id)
    spec = loaded.spec
    report = analysis_process.run(calls.analyse, calls.AnalyseRequest(
        url_of(factory), audit_id, spec, total=loaded.total, usage=_usage_total(per_attempt),
        target={"base_url": loaded.target.base_url, "model": loaded.target.model,
                "protocol": loaded.target.protocol},
        stopped=stopped if spec.design.kind == "sequential" else None),
        enabled=settings.analysis_process)
    problem = _error_share_problem(report, spec, first_error)
    with transaction(factory) as s:
        guard(s)
        row: Audit = get(s, audit_id)
        row.report = report.model_dump(mode="json")
        row.finished_at = utcnow()
        if problem is None:  # a failed audit is announced by the runner, as audit.failed
            events.audit_finished(s, settings, row, report)
            for later, comparison in regressions(s, row):  # a named baseline, a series' neighbours
                events.audit_regressed(s, settings, later, comparison)
    if problem is not None:
        raise TargetFailed(problem)
    return report


def _summary(audit_id: str, report: AuditReport, stopped_reason: str | None) -> dict[str, Any]:
    return {"audit_id": audit_id, "findings": len(report.findings),
            "flagged": sum(f.flagged for f in report.findings),
            "miscalibrated": sum(f.miscalibrated for f in report.findings),
            "target_errors": report.totals.target_errors, "stopped_reason": stopped_reason}


def _open_findings(spec: ProbeSpec, factory: sessionmaker[Session], audit_id: str,
                   settings: Settings) -> tuple[list[str], int]:
    """(findings still open, family size), in a worker thread, computed in the analysis process."""
    request = calls.OpenFindingsRequest(url_of(factory), audit_id, spec)
    still = analysis_process.run(calls.open_findings, request, enabled=settings.analysis_process)
    return still.names, still.family


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


# What a worker runs: each job kind's task, registered with app/jobs/registry.py.

@task(JobKind.audit_run)
async def run_task(ctx: JobContext) -> dict[str, Any]:
    return await execute(ctx.session_factory, ctx.settings, ctx.payload["audit_id"], ctx.progress,
                         attempt=ctx.attempt, guard=ctx.guard, halt=ctx.halt)


@task(JobKind.audit_chunk)
async def chunk_task(ctx: JobContext) -> dict[str, Any]:
    result = await execute_chunk(ctx.session_factory, ctx.settings, ctx.payload["audit_id"],
                                 ctx.payload["chunk"], ctx.progress, job_id=ctx.job_id, attempt=ctx.attempt,
                                 guard=ctx.guard, halt=ctx.halt)
    return {**result, "worker": ctx.worker_id}
