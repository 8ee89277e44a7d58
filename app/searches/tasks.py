"""search.run: the SURF loop over an attribute pool, then its confirmation audit (started and waited on
without holding a worker slot), then search.json. Safe to re-run after a crash at any point."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from app.audits import use_cases as audits
from app.config import Settings
from app.core.behaviours.judge import RubricJudge
from app.core.behaviours.registry import build_behaviour
from app.core.jobs import JobKind
from app.core.llm import Budget, ChatClient
from app.core.search.attributes import Attribute, split_prompts
from app.core.search.loop import Candidate, SearchOutcome, run_search
from app.core.search.spec import SearchSpec
from app.datasets import use_cases as datasets_service
from app.db.engine import transaction
from app.db.repositories import jobs as jobs_repo
from app.db.repositories import searches as repo
from app.db.tables import Search
from app.db.types import utcnow
from app.errors import Halted, InvalidInput, TargetFailed, Waiting
from app.jobs.context import JobContext
from app.jobs.registry import task
from app.searches import use_cases
from app.searches.use_cases import (
    Pool,
    candidate_of,
    held_out,
    load_records,
    needs_auditor,
    writes_queries,
)
from app.services import targets as targets_service
from app.services.auditor import ProgressFn, auditor_for, close_auditor, query_writer_for
from app.services.owners import Principal

if TYPE_CHECKING:
    pass


def _row(c: Candidate) -> dict[str, Any]:
    return {"run": c.run, "iteration": c.iteration, "idx": c.index, "attributes": c.attributes,
            "prompt_index": c.prompt_index, "prompt": c.prompt, "system": c.system,
            "response": c.response, "score": c.score, "error": c.error, "detail": c.detail,
            "created_at": utcnow()}


def _judge(spec: SearchSpec, auditor: ChatClient | None) -> Any:
    """(prompt, response) → (score 0-100 | None, detail): a rubric judge, or any scorer."""
    if spec.judge.rubric is not None:
        rubric = RubricJudge(client=auditor, rubric=spec.judge.rubric, threshold=spec.judge.threshold)

        async def by_rubric(prompt: str, response: str) -> tuple[float | None, dict[str, Any]]:
            s = await rubric.score(response, prompt=prompt)
            return s.score, {"error": s.error, **(s.detail or {})}

        return by_rubric
    assert spec.judge.behaviour is not None
    scorer = build_behaviour(*spec.judge.behaviour.scorer(), client=auditor)

    async def by_scorer(prompt: str, response: str) -> tuple[float | None, dict[str, Any]]:
        s = await scorer.score(response, prompt=prompt)
        if s.error:
            return None, {"error": s.error}
        return (100.0 if s.elicited else 0.0), {"elicited": s.elicited, "scorer_score": s.score}

    return by_scorer


def _writer(spec: SearchSpec, auditor: ChatClient | None) -> Any:
    if auditor is None:
        return None
    from app.core.search.queries import parse_query, query_request

    counter = {"n": 0}
    prompt_set = spec.prompt_set()

    async def write(attrs: list[Attribute], seed: str | None) -> str | None:
        counter["n"] += 1
        ask, params = query_request(prompt_set, attrs, seed)
        resp = await auditor.chat([{"role": "user", "content": ask}], temperature=1.0,
                                  seed=spec.seed + counter["n"], **params)
        return parse_query(prompt_set, resp.text)

    return write


async def execute(factory: sessionmaker[Session], settings: Settings, search_id: str,
                  progress: ProgressFn, *, guard: Any, halt: asyncio.Event | None = None
                  ) -> dict[str, Any]:
    """Search (skipping stored candidates), start the confirmation audit and wait for it without
    holding a worker slot, then store the result. Safe to re-run after a crash at any point."""

    def load() -> tuple[Search, Any, SearchSpec, Pool | None, dict[Any, Candidate]]:
        with transaction(factory) as s:
            row = use_cases.get(s, search_id)
            spec = SearchSpec.model_validate(row.spec)
            pool: Pool | None = None if row.pool is None else [Attribute(**a) for a in row.pool]
            stored = {c.key: c for c in map(candidate_of, repo.candidates(s, search_id))}
            target = targets_service.get(s, row.target_id)
        if spec.uses_records() and row.result is None:
            pool = load_records(settings, search_id)
        return row, target, spec, pool, stored

    row, target, spec, maybe_pool, stored = await asyncio.to_thread(load)
    if row.result is not None:
        return _summary(row.result)
    pool = maybe_pool if maybe_pool is not None else await _mined_pool(
        factory, settings, search_id, spec, progress, guard)
    searched = split_prompts(spec)[0]
    if row.confirmation_audit_id is None:
        if len(stored) < spec.planned_candidates():
            from app.audits.tasks import preflight

            # a dead target (or auditor, or query model) fails in seconds, in its own words
            await preflight(settings, target, needs_auditor=needs_auditor(spec, pool),
                            query_model=writes_queries(pool))
        outcome = await _search(factory, settings, search_id, spec, target, pool, searched, stored,
                                progress, guard, halt)
        top = _top(spec, pool, outcome)
        held = await asyncio.to_thread(held_out, settings, search_id, spec, top,
                                       None if isinstance(pool, list) else pool)
        if top and held:
            await asyncio.to_thread(_start_confirmation, factory, settings, search_id, spec, top, held, guard)
            await progress(len(stored), spec.planned_candidates(), "confirming the top attributes")
            raise Waiting(settings.audit_poll_seconds, "confirmation audit started")
        doc = await asyncio.to_thread(_finish, factory, settings, search_id, spec, target, pool, outcome,
                                      None, guard)
        return _summary(doc)
    confirmation = await asyncio.to_thread(_confirmation_state, factory, row.confirmation_audit_id)
    if "running" in confirmation:
        await progress(len(stored), spec.planned_candidates(),
                       f"confirming: audit {row.confirmation_audit_id} {confirmation['running']}")
        raise Waiting(settings.audit_poll_seconds, "confirmation audit running")
    replayed = await _replay(spec, pool, stored)
    doc = await asyncio.to_thread(_finish, factory, settings, search_id, spec, target, pool, replayed,
                                  confirmation, guard)
    return _summary(doc)


async def _mined_pool(factory: sessionmaker[Session], settings: Settings, search_id: str,
                      spec: SearchSpec, progress: ProgressFn, guard: Any) -> list[Attribute]:
    """Mine the pool once per (dataset, mining settings, auditor model): cached beside the
    dataset's index, then stored on the search so a resumed search plans from the same pool."""
    import hashlib
    import json
    import random

    from app.core import embedder
    from app.core.search.mining import mine
    from app.core.turf.extraction import asker
    from app.db.repositories import datasets as datasets_repo

    src = spec.attributes_from_dataset
    assert src is not None
    key = hashlib.sha256(json.dumps([src.queries, src.clusters, src.per_query, spec.seed,
                                     settings.auditor_model], sort_keys=True).encode()).hexdigest()[:16]
    cache = datasets_service.dataset_dir(settings, src.dataset) / f"search-attributes-{key}.json"
    if cache.exists():
        pool = [Attribute(**a) for a in json.loads(cache.read_text(encoding="utf-8"))["pool"]]
    else:
        def sample() -> list[str]:
            with transaction(factory) as s:
                n = datasets_service.get(s, src.dataset).n_rows
                picks = sorted(random.Random(spec.seed).sample(range(n), min(src.queries, n)))
                return [r.prompt for r in datasets_repo.rows_by_ordinal(s, src.dataset, picks)]

        queries = await asyncio.to_thread(sample)
        auditor = auditor_for(settings, True)
        assert auditor is not None

        ask = asker(auditor, 200, spec.seed)
        try:
            pool, stats = await mine(queries, ask, embedder.encode, per_query=src.per_query,
                                     clusters=src.clusters, progress=progress)
        except ValueError as exc:
            raise InvalidInput(f"spec.attributes_from_dataset: {exc}",
                               field="spec.attributes_from_dataset") from None
        finally:
            await close_auditor(settings, auditor)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"pool": [a.as_dict() for a in pool], "stats": stats}), encoding="utf-8")

    def store() -> None:
        with transaction(factory) as s:
            guard(s)
            use_cases.get(s, search_id).pool = [a.as_dict() for a in pool]

    await asyncio.to_thread(store)
    return pool


async def _search(factory: sessionmaker[Session], settings: Settings, search_id: str, spec: SearchSpec,
                  target: Any, pool: Pool, prompts: list[str], stored: dict[Any, Candidate],
                  progress: ProgressFn, guard: Any, halt: asyncio.Event | None) -> SearchOutcome:
    client = targets_service.make_client(settings, target, concurrency=spec.concurrency, budget=Budget())
    auditor = auditor_for(settings, spec.judge.needs_auditor())
    writer = query_writer_for(settings, writes_queries(pool))

    async def answer(user: str, system: str | None, seed: int) -> str:
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": user})
        resp = await client.chat(messages, temperature=spec.temperature, max_tokens=spec.max_tokens,
                                 seed=seed)
        return resp.text

    async def sink(c: Candidate) -> None:
        def write() -> None:
            with transaction(factory) as s:
                guard(s)
                repo.save_candidate(s, search_id, _row(c))

        await asyncio.to_thread(write)

    try:
        outcome = await run_search(spec, pool, prompts, write_query=_writer(spec, writer), answer=answer,
                                   judge=_judge(spec, auditor), judge_uses_auditor=spec.judge.needs_auditor(),
                                   stored=stored, sink=sink, progress=progress, halt=halt)
    finally:
        await client.aclose()
        await close_auditor(settings, auditor)
        await close_auditor(settings, writer)
    if outcome.halted:
        raise Halted(f"search {search_id} halted with {len(stored)} candidates stored")
    problem = error_share_problem(outcome.candidates, spec.budget.max_error_rate)
    if problem:
        raise TargetFailed(problem)
    return outcome


def error_share_problem(cands: list[Candidate], max_error_rate: float) -> str | None:
    """A search that mostly measured the target's errors has found nothing: it fails, saying so."""
    errors = [c.error for c in cands if c.error and c.error.startswith("target:")]
    if not cands or not errors:
        return None
    share = len(errors) / len(cands)
    if share <= max_error_rate:
        return None
    return (f"{len(errors)} of {len(cands)} candidates ({share:.0%}) ended in a target error, over "
            f"budget.max_error_rate {max_error_rate:.0%}; first: {errors[0]}")


async def _replay(spec: SearchSpec, pool: Pool, stored: dict[Any, Candidate]) -> SearchOutcome:
    """The curve and stop reason again, from stored candidates alone: the loop plans the same
    candidates, finds each stored, and calls nothing."""

    async def never(*_: Any) -> Any:
        raise AssertionError("every candidate of a searched search is stored")

    return await run_search(spec, pool, split_prompts(spec)[0], write_query=never, answer=never,
                            judge=never, judge_uses_auditor=False, stored=stored, sink=never,
                            progress=never)


def _listed(pool: Pool, cands: list[Candidate]) -> list[Attribute]:
    """The attributes a ranking covers: a list pool's all, a record pool's those drawn."""
    from app.core.search.ranking import drawn

    return pool if isinstance(pool, list) else drawn(cands)


def _top(spec: SearchSpec, pool: Pool, outcome: SearchOutcome) -> list[Attribute]:
    from app.core.search.ranking import rank

    listed = _listed(pool, outcome.candidates)
    by_id = {a.id: a for a in listed}
    ranked = rank(listed, outcome.candidates, spec.judge.threshold)
    return [by_id[r["attribute"]] for r in ranked if r["n"] > 0][: spec.confirm.top_k]


def _start_confirmation(factory: sessionmaker[Session], settings: Settings, search_id: str,
                        spec: SearchSpec, top: list[Attribute], held: list[str], guard: Any) -> None:
    from app.core.search.confirm import confirmation_spec

    with transaction(factory) as s:
        guard(s)
        row = use_cases.get(s, search_id)
        if row.confirmation_audit_id is not None:
            return
        audit = audits.create(s, settings, target_id=row.target_id, who=Principal(row.owner or ""),
                              spec=confirmation_spec(spec, top, held))
        audit.config = {**(audit.config or {}), "search_id": search_id, "attributes": [a.id for a in top]}
        row.confirmation_audit_id = audit.id


def _confirmation_state(factory: sessionmaker[Session], audit_id: str) -> dict[str, Any]:
    """{running: its progress} while the audit runs; then what it concluded about each attribute."""
    from app.core.search.confirm import confirmation_findings

    with transaction(factory) as s:
        audit = audits.get(s, audit_id)
        job = jobs_repo.get(s, audit.job_id or "")
        status = job.status if job is not None else "failed"
        if audit.report is None and status in ("queued", "running"):
            return {"running": f"sampled {job.progress_done if job else 0}/"
                               f"{(job.progress_total if job else None) or '?'}"}
        attrs = list((audit.config or {}).get("attributes", []))
        held = audit.spec.get("prompts") or []
        if audit.report is not None and status == "succeeded":
            return {"audit_id": audit_id, "status": "completed", "prompts": len(held),
                    "findings": confirmation_findings(audit.report, attrs)}
        return {"audit_id": audit_id, "status": status, "error": job.error if job else "no job",
                "prompts": len(held), "findings": []}


def _finish(factory: sessionmaker[Session], settings: Settings, search_id: str, spec: SearchSpec,
            target: Any, source: Pool, outcome: SearchOutcome,
            confirmation: dict[str, Any] | None, guard: Any) -> dict[str, Any]:
    from app.core.search.ranking import rank, top_examples
    from app.core.search.result import SearchResult
    from app.webhooks import events

    cands = outcome.candidates
    pool = _listed(source, cands)
    ranking = rank(pool, cands, spec.judge.threshold)
    found = {f["attribute"]: f for f in (confirmation or {}).get("findings", [])}
    sent = [r for r in ranking if r["n"] > 0][: spec.confirm.top_k] if confirmation else []
    discoveries = [{"attribute": r["attribute"], "text": r["text"], "search_rank": r["rank"],
                    "mean_score": r["mean_score"],
                    "confirmed": found[r["attribute"]]["confirmed"] if r["attribute"] in found else
                    (False if confirmation and confirmation["status"] == "completed" else None),
                    **({k: found[r["attribute"]][k] for k in ("effect", "ci_low", "ci_high", "verdict")}
                       if r["attribute"] in found else {})} for r in sent]
    failures = {"query": 0, "judge": 0, "target": 0}
    for c in cands:
        for k, v in c.detail.get("failures", {}).items():
            failures[k] = failures.get(k, 0) + int(v)
        failures["target"] += bool(c.error and c.error.startswith("target:"))
    doc = SearchResult.model_validate({  # validated against the published schema before it is stored
        "search_id": search_id, "name": spec.name,
        "target": {"base_url": target.base_url, "model": target.model},
        "judge": spec.judge.model_dump(mode="json", exclude_none=True), "prompt_set": spec.prompt_set(),
        "pool": [a.as_dict() for a in pool],
        "records": None if isinstance(source, list) else source.describe(),
        "usage": {"candidates": len(cands), "planned": spec.planned_candidates(),
                  "target_calls": sum(c.calls("target") for c in cands),
                  "auditor_calls": sum(c.calls("auditor") for c in cands), "failures": failures},
        "stopped": outcome.stopped, "ranking": ranking, "top_examples": top_examples(pool, cands),
        "curve": outcome.curve, "discoveries": discoveries, "confirmation": confirmation,
    }).model_dump(mode="json")
    with transaction(factory) as s:
        guard(s)
        row = use_cases.get(s, search_id)
        row.result = doc
        row.finished_at = utcnow()
        events.search_completed(s, settings, row, doc)
    return doc


def _summary(doc: dict[str, Any]) -> dict[str, Any]:
    return {"search_id": doc["search_id"], "candidates": doc["usage"]["candidates"],
            "discoveries": len(doc["discoveries"]),
            "confirmed": sum(bool(d["confirmed"]) for d in doc["discoveries"]),
            "confirmation_audit_id": (doc["confirmation"] or {}).get("audit_id")}


# What a worker runs: each job kind's task, registered with app/jobs/registry.py.

@task(JobKind.search_run)
async def run_task(ctx: JobContext) -> dict[str, Any]:
    return await execute(ctx.session_factory, ctx.settings, ctx.payload["search_id"], ctx.progress,
                         guard=ctx.guard, halt=ctx.halt)
