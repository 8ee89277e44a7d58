"""Audit use cases: create (audit + job in one transaction), execute (the audit.run task), read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core.behaviours.base import Behaviour
from app.core.behaviours.registry import build_behaviour
from app.core.llm import Budget, ChatClient, OpenAIChatClient, local_engines
from app.core.surf.analysis import Sample, analyze
from app.core.surf.factorial import SampleResult, run_factorial
from app.core.surf.report import AuditReport
from app.core.surf.spec import ProbeSpec, parse_cell_key
from app.core.triggers.rewriter import CachedRewriter
from app.db.engine import transaction
from app.db.repositories import audits as repo
from app.db.repositories import jobs as jobs_repo
from app.db.tables import Audit
from app.db.types import utcnow
from app.errors import InvalidInput, NotFound
from app.services import targets as targets_service
from app.services.validation import validate


def parse_spec(data: dict[str, Any], *, prefix: str = "spec") -> ProbeSpec:
    """Validate a probe spec; the error names the exact offending field."""
    return validate(ProbeSpec, data, prefix=prefix)


def create(session: Session, settings: Settings, *, target_id: str, spec: dict[str, Any],
           max_attempts: int | None = None) -> Audit:
    """The job row commits with the audit it refers to, never before it."""
    parsed = parse_spec(spec)
    targets_service.get(session, target_id)
    if parsed.needs_auditor() and not auditor_configured(settings):
        raise InvalidInput("this spec needs an auditor model (rewrites or a judge): set "
                           "SURFTURF_AUDITOR_URL and SURFTURF_AUDITOR_MODEL, or "
                           "SURFTURF_AUDITOR_ENGINE=vllm and SURFTURF_AUDITOR_MODEL=smollm2",
                           field="spec")
    config = {"settings": settings.public_dict(), "work_items": parsed.work_item_count()}
    audit = repo.add(session, name=parsed.name, target_id=target_id,
                     spec=parsed.model_dump(mode="json"), config=config)
    job = jobs_repo.enqueue(session, "audit.run", {"audit_id": audit.id},
                            max_attempts=max_attempts or settings.job_max_attempts)
    audit.job_id = job.id
    return audit


def get(session: Session, audit_id: str) -> Audit:
    row = repo.get(session, audit_id)
    if row is None:
        raise NotFound(f"audit {audit_id} not found")
    return row


def auditor_configured(settings: Settings) -> bool:
    if settings.auditor_engine != "http":
        return bool(settings.auditor_model)
    return bool(settings.auditor_url and settings.auditor_model)


def make_auditor(settings: Settings) -> ChatClient | None:
    if not auditor_configured(settings):
        return None
    if settings.auditor_engine != "http":
        return local_engines.shared_engine(settings.auditor_engine, settings.auditor_model or "",
                                           settings.data_dir)
    return OpenAIChatClient(settings.auditor_url or "", settings.auditor_model or "",
                            api_key=settings.auditor_api_key, timeout=settings.target_timeout_seconds)


def build_behaviours(spec: ProbeSpec, auditor: ChatClient | None) -> dict[str, Behaviour]:
    out = {}
    for name, b in spec.behaviours.items():
        scorer_id, params = b.scorer()
        extra = {"client": auditor} if scorer_id == "judge.rubric" else {}
        out[name] = build_behaviour(scorer_id, **params, **extra)
    return out


def _to_row(r: SampleResult) -> dict[str, Any]:
    return {"cell_key": r.item.cell_key, "prompt_index": r.item.prompt_index,
            "sample_index": r.item.sample_index, "seed": r.item.seed, "messages": r.messages,
            "response": r.response, "scores": r.scores, "error": r.error,
            "latency_ms": r.latency_ms, "created_at": utcnow()}


def load_samples(session: Session, audit_id: str) -> list[Sample]:
    return [Sample(parse_cell_key(r.cell_key), r.prompt_index, r.sample_index, r.messages,
                   r.response, r.scores, r.error) for r in repo.iter_results(session, audit_id)]


ProgressFn = Callable[[int, int | None, str | None], Awaitable[None]]


async def execute(factory: sessionmaker[Session], settings: Settings, audit_id: str,
                  progress: ProgressFn) -> dict[str, Any]:
    """Run the missing samples, then analyse everything stored; safe to re-run after a crash."""

    def load() -> tuple[Audit, Any, set[tuple[str, int, int]]]:
        with transaction(factory) as s:
            audit = get(s, audit_id)
            return audit, targets_service.get(s, audit.target_id), repo.done_keys(s, audit_id)

    audit, target, done = await asyncio.to_thread(load)
    spec = ProbeSpec.model_validate(audit.spec)
    client = targets_service.make_client(settings, target,
                                         budget=Budget(max_requests=spec.design.max_requests))
    auditor = make_auditor(settings) if spec.needs_auditor() else None
    rewriter = CachedRewriter(auditor, settings.data_dir / "rewrites.jsonl") if auditor else None
    total = spec.work_item_count()

    async def sink(batch: list[SampleResult]) -> None:
        def write() -> None:
            with transaction(factory) as s:
                repo.save_results(s, audit_id, [_to_row(r) for r in batch])

        await asyncio.to_thread(write)

    async def report_progress(done_n: int, total_n: int) -> None:
        await progress(done_n, total_n, f"sampled {done_n}/{total_n}")

    try:
        outcome = await run_factorial(spec, client, build_behaviours(spec, auditor), sink=sink,
                                      done=done, rewriter=rewriter, progress=report_progress)
    finally:
        await client.aclose()
        if auditor and settings.auditor_engine == "http":
            await auditor.aclose()  # in-process engines stay loaded for the next job
    await progress(total, total, "analysing")

    def finish() -> AuditReport:
        with transaction(factory) as s:
            samples = load_samples(s, audit_id)
        report = analyze(spec, samples, total=total, usage=outcome.usage,
                         target={"base_url": target.base_url, "model": target.model})
        with transaction(factory) as s:
            row = get(s, audit_id)
            row.report = report.model_dump(mode="json")
            row.finished_at = utcnow()
        return report

    report = await asyncio.to_thread(finish)
    return {"audit_id": audit_id, "findings": len(report.findings),
            "flagged": sum(f.flagged for f in report.findings),
            "miscalibrated": sum(f.miscalibrated for f in report.findings),
            "target_errors": report.totals["target_errors"], "stopped_reason": outcome.stopped_reason}
