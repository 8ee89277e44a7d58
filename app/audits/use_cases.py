"""Audit use cases: create (audit + job in one transaction), read, cancel, resume, re-analyse.
Running one is tasks.py's."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.audits import sample_reader
from app.config import Settings
from app.core.behaviours.base import Behaviour
from app.core.behaviours.registry import build_behaviour
from app.core.jobs import JobKind
from app.core.llm import ChatClient
from app.core.llm.model_ref import join_protocol
from app.core.surf.chunks import plan_chunks
from app.core.surf.report import AuditReport
from app.core.surf.samples import Sample, to_jsonl
from app.core.surf.spec import ProbeSpec, cell_key
from app.db.engine import transaction
from app.db.repositories import audits as repo
from app.db.repositories import jobs as jobs_repo
from app.db.tables import Audit, Job
from app.errors import Conflict, InvalidInput, NotFound
from app.services import jobs as jobs_service
from app.services import targets as targets_service
from app.services.auditor import configured
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
        _check_prompt_length(spec, settings.max_prompt_chars, prefix)
    return spec


def _check_prompt_length(spec: ProbeSpec, limit: int, prefix: str) -> None:
    """Before any target call: the design's longest prompt, blamed on the level that grows it most."""
    from app.core.surf.factorial import build_levels, longest_prompt

    chars, index, cell = longest_prompt(spec)
    if chars <= limit:
        return
    levels = build_levels(spec)

    def growth(feature: str) -> tuple[int, int]:
        d = levels[feature][cell[feature]].describe()
        user = str(d.get("user", "{prompt}"))
        return user.count("{prompt}"), len(user) + len(str(d.get("system") or ""))

    worst = max(cell, key=growth)
    raise InvalidInput(f"{prefix}.features.{worst}.levels.{cell[worst]}: prompts[{index}] renders to "
                       f"{chars} characters in cell {cell_key(cell)}; this server takes at most {limit} "
                       "(SURFTURF_MAX_PROMPT_CHARS)", field=f"{prefix}.features.{worst}.levels.{cell[worst]}")


def fingerprint(spec: ProbeSpec, base_url: str, model: str) -> str:
    """The same spec against the same model is the same audit: a re-run resumes it. How fast it
    is sampled (design.concurrency) does not change what is measured, so it is left out."""
    dumped = spec.model_dump(mode="json")
    dumped["design"].pop("concurrency", None)
    blob = json.dumps({"spec": dumped, "base_url": base_url.rstrip("/"), "model": model},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def create(session: Session, settings: Settings, *, target_id: str, spec: dict[str, Any],
           who: Principal, max_attempts: int | None = None, baseline_audit_id: str | None = None,
           run_by: str | None = None) -> Audit:
    """The job row commits with the audit it refers to, never before it. `baseline_audit_id`: a
    finished audit of the same spec this one is compared with when it finishes (audit.regressed).
    `run_by`: the job that runs this audit inline (an organism sweep, whose target lives on its
    worker's loopback): no job of its own, and its reads show that job's state until it has a
    report."""
    parsed = parse_spec(spec, settings=settings)
    target = targets_service.get(session, target_id, who)
    if baseline_audit_id is not None:
        _check_baseline(session, baseline_audit_id, parsed, who)
    if parsed.needs_auditor() and not configured(settings):
        raise InvalidInput("this spec needs an auditor model (rewrites or a judge): set "
                           "SURFTURF_AUDITOR_URL and SURFTURF_AUDITOR_MODEL, or "
                           "SURFTURF_AUDITOR_ENGINE=vllm and SURFTURF_AUDITOR_MODEL=smollm2",
                           field="spec")
    chunk_size = settings.audit_chunk_size if plan_chunks(parsed, settings.audit_chunk_size) else 0
    config = {"settings": settings.public_dict(), "work_items": parsed.work_item_count(),
              "chunk_size": chunk_size,
              **({"baseline_audit_id": baseline_audit_id} if baseline_audit_id else {})}
    audit = repo.add(session, name=parsed.name, target_id=target.id, owner=target.owner,
                     spec=parsed.model_dump(mode="json"), config=config,
                     fingerprint=fingerprint(parsed, target.base_url,
                                             join_protocol(target.protocol, target.model)))
    if run_by is not None:
        audit.job_id = run_by
        audit.config = {**config, "run_by": run_by}
        return audit
    job = jobs_repo.enqueue(session, JobKind.audit_run, {"audit_id": audit.id}, owner=target.owner,
                            max_attempts=max_attempts or settings.job_max_attempts)
    audit.job_id = job.id
    return audit


def _check_baseline(session: Session, baseline_id: str, spec: ProbeSpec, who: Principal) -> None:
    from app.core.surf.compare import SpecMismatch, check_specs

    field = "baseline_audit_id"
    try:
        base = get(session, baseline_id, who)
    except NotFound:
        raise InvalidInput(f"{field}: no audit {baseline_id!r}", field=field) from None
    if base.report is None:
        raise InvalidInput(f"{field}: audit {baseline_id} has not finished", field=field)
    try:
        check_specs(ProbeSpec.model_validate(base.spec), spec, common_prompts=False)
    except SpecMismatch as exc:
        raise InvalidInput(f"{field}: not comparable with this spec: {exc}", field=field) from None


def regressions(session: Session, audit: Audit) -> list[tuple[Audit, dict[str, Any]]]:
    """(later audit, compare.json) for the pairs that can be compared now that `audit` finished:
    against its named baseline; in a series, against the previous checkpoint if that finished,
    and the next checkpoint against it if that finished first."""
    config = audit.config or {}
    out = []
    for base in (config.get("baseline_audit_id"), config.get("series_previous")):
        if base is not None and get(session, base).report is not None:
            out.append((audit, compare(session, base, audit.id, None)))
    later = config.get("series_next")
    if later is not None and (nxt := get(session, later)).report is not None:
        out.append((nxt, compare(session, audit.id, later, None)))
    return out


def get(session: Session, audit_id: str, who: Principal | None = None) -> Audit:
    return visible(repo.get(session, audit_id), who, "audit", audit_id)


def unfinished_twin(session: Session, spec: ProbeSpec, base_url: str, model: str, who: Principal
                    ) -> Audit | None:
    """The latest audit of this spec against this model, if it has no report yet."""
    row = repo.latest_with_fingerprint(session, fingerprint(spec, base_url, model), who.owner)
    return row if row is not None and row.report is None else None


def _jobs(row: Audit) -> list[str]:
    """The audit's own job, then its chunk jobs (if it was cut into chunks)."""
    return [j for j in [row.job_id, *(row.config or {}).get("chunk_jobs", [])] if j]


def resume(session: Session, settings: Settings, audit_id: str, who: Principal, *,
           concurrency: int | None = None) -> Audit:
    """Queue a cancelled, failed or interrupted audit again, and any of its chunks that ended
    unfinished; it continues from its stored samples (at `concurrency`, when given)."""
    row = get(session, audit_id, who)
    if row.report is not None:
        raise Conflict(f"audit {audit_id} is complete; run the spec again for a new audit")
    if concurrency:
        row.spec = {**row.spec, "design": {**row.spec.get("design", {}), "concurrency": concurrency}}
    for job_id in _jobs(row):
        job = jobs_repo.get(session, job_id)
        if job is not None and job.status in jobs_repo.RESUMABLE:
            jobs_repo.requeue(session, job.id, settings.job_max_attempts)
    return row


def cancel(session: Session, audit_id: str, who: Principal | None = None) -> Job:
    """Cancel the audit's job and every chunk still to run; returns the audit's own job."""
    row = get(session, audit_id, who)
    own, *chunks = _jobs(row) or [""]
    for job_id in chunks:
        jobs_repo.request_cancel(session, job_id)
    return jobs_service.cancel(session, own)


def stored_samples(session: Session, audit_id: str) -> int:
    return repo.count_results(session, audit_id)


def list_audits(session: Session, who: Principal, *, limit: int, offset: int) -> list[Audit]:
    return repo.list_audits(session, owner=who.scope, limit=limit, offset=offset)


def report(session: Session, audit_id: str, who: Principal) -> dict[str, Any]:
    row = get(session, audit_id, who)
    return jobs_service.finished_artifact(session, row, row.report, f"audit {audit_id}", "report",
                                          f"/v1/audits/{audit_id}")


def compare_samples(spec: ProbeSpec, baseline: Iterable[Sample], candidate: Iterable[Sample],
                    auditor: ChatClient | None = None, *, common_prompts: bool = False) -> dict[str, Any]:
    """Two samples files of one spec (the `audit analyze` format), paired by prompt."""
    from app.core.surf.compare import compare as paired

    a, b = list(baseline), list(candidate)
    asyncio.run(rescore(spec, a + b, auditor))
    return paired(spec, a, spec, b, common_prompts=common_prompts).model_dump(mode="json")


def compare(session: Session, baseline_id: str, candidate_id: str, who: Principal | None, *,
            common_prompts: bool = False) -> dict[str, Any]:
    """Two finished audits of one spec, paired by prompt (app/core/surf/compare.py). `who`: None
    for the CLI, whose user holds the database (as `audit export`)."""
    from app.core.surf.compare import SpecMismatch
    from app.core.surf.compare import compare as paired

    rows = []
    for role, audit_id in (("baseline", baseline_id), ("candidate", candidate_id)):
        row = get(session, audit_id, who)
        if row.report is None:
            raise Conflict(f"{role} audit {audit_id} has not finished: it has no report yet")
        rows.append(row)
    a, b = rows
    try:
        report = paired(ProbeSpec.model_validate(a.spec), sample_reader.load(session, a.id),
                        ProbeSpec.model_validate(b.spec), sample_reader.load(session, b.id),
                        common_prompts=common_prompts, baseline_audit_id=a.id, candidate_audit_id=b.id)
    except SpecMismatch as exc:
        raise InvalidInput(f"the audits are not comparable: {exc}", field="spec") from None
    return report.model_dump(mode="json")


def build_behaviours(spec: ProbeSpec, auditor: ChatClient | None) -> dict[str, Behaviour]:
    return {name: build_behaviour(*b.scorer(), client=auditor) for name, b in spec.behaviours.items()}


def export_samples(factory: sessionmaker[Session], audit_id: str, who: Principal | None = None
                   ) -> Iterator[str]:
    """Every stored sample as JSONL (the `audit analyze` format), streamed from the database."""
    with transaction(factory) as s:
        get(s, audit_id, who)
    with transaction(factory) as s:
        yield from to_jsonl(sample_reader.to_sample(r) for r in repo.iter_results(s, audit_id))


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
