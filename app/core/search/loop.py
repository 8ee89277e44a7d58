"""SURF's loop, as published: weights from the replay buffer, weighted + random attributes per
candidate (sampling.py: one rule for attribute lists, SURF's own for attribute records), a query
written (or templated), the target's answer at T=1, a judge's 0-100 score.

Every choice comes from a generator seeded by (seed, run, iteration, index) and from the buffer,
which is rebuilt from stored candidates, so a resumed search plans exactly the candidates it
would have and skips the ones already stored."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.core.llm.errors import LLMError
from app.core.search.attributes import Attribute, compose
from app.core.search.sampling import Key, Plan, buffer_weights, plan, plan_records, rng_for, weights
from app.core.search.spec import SearchSpec

if TYPE_CHECKING:
    from app.core.search.records import RecordPool


@dataclass
class Candidate:
    run: int
    iteration: int
    index: int
    attributes: list[str]
    prompt_index: int
    prompt: str | None = None
    system: str | None = None
    response: str | None = None
    score: float | None = None
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)  # judge output, failures, calls

    @property
    def key(self) -> Key:
        return (self.run, self.iteration, self.index)

    def calls(self, kind: str) -> int:
        return int(self.detail.get("calls", {}).get(kind, 0))


@dataclass
class SearchOutcome:
    candidates: list[Candidate] = field(default_factory=list)
    curve: list[dict[str, Any]] = field(default_factory=list)
    stopped: str = "budget: every planned iteration ran"
    halted: bool = False


# (attributes, seed prompt or None) → the query, or None when no usable query came back
WriteQuery = Callable[[list[Attribute], str | None], Awaitable[str | None]]
Answer = Callable[[str, str | None, int], Awaitable[str]]  # (user, system, seed) → text
Judge = Callable[[str, str], Awaitable[tuple[float | None, dict[str, Any]]]]
Sink = Callable[[Candidate], Awaitable[None]]
Progress = Callable[[int, int, str], Awaitable[None]]


async def _once_more(fn: Callable[[], Awaitable[Any]], failed: Callable[[Any], bool]) -> tuple[Any, int]:
    """One retry on an unusable answer; returns (answer, calls made)."""
    first = await fn()
    if not failed(first):
        return first, 1
    return await fn(), 2


async def evaluate(spec: SearchSpec, pool: dict[str, Attribute], prompts: list[str], p: Plan, *,
                   write_query: WriteQuery | None, answer: Answer, judge: Judge,
                   judge_uses_auditor: bool) -> Candidate:
    """One candidate; every failure is recorded on it (counted, retried once), never raised."""
    c = Candidate(p.run, p.iteration, p.index, list(p.attributes), p.prompt_index)
    attrs = [pool[a] for a in p.attributes]
    calls = {"target": 0, "auditor": 0}
    failures = {"query": 0, "judge": 0}
    c.detail = {"calls": calls, "failures": failures,
                **({"sampling": p.sampling} if p.sampling is not None else {})}
    base: str | None = prompts[p.prompt_index] if p.prompt_index >= 0 else None
    free = [a for a in attrs if not a.deterministic]
    if free:
        if write_query is None:
            c.error = "query model: these attributes need an auditor model to be written in"
            return c
        written, n = await _once_more(lambda: write_query(free, base), lambda q: not q)
        calls["auditor"] += n
        failures["query"] += n - 1 + (not written)
        if not written:
            c.error = "query model: no usable query after one retry"
            return c
        base = written
    assert base is not None  # a candidate without a seed prompt has only written-in attributes
    c.prompt, c.system = compose([a for a in attrs if a.deterministic], base)
    seed = rng_for(spec.seed, p.key).randrange(2**31 - 1)
    try:
        calls["target"] += 1
        c.response = await answer(c.prompt, c.system, seed)
    except LLMError as err:
        c.error = f"target: {err.message}"
        return c
    (score, detail), n = await _once_more(lambda: judge(c.prompt or "", c.response or ""),
                                          lambda out: out[0] is None)
    calls["auditor"] += n if judge_uses_auditor else 0
    failures["judge"] += n - 1 + (score is None)
    c.score, c.detail["judge"] = score, detail
    return c


async def run_search(spec: SearchSpec, pool: list[Attribute] | RecordPool, prompts: list[str], *,
                     write_query: WriteQuery | None, answer: Answer, judge: Judge,
                     judge_uses_auditor: bool, stored: dict[Key, Candidate], sink: Sink,
                     progress: Progress, halt: asyncio.Event | None = None) -> SearchOutcome:
    """Runs × iterations × candidates, skipping stored candidates; each new one goes to `sink`
    as soon as it is judged. Stops a run early when its recent best stays low, and everything
    once a call budget is spent."""
    b = spec.budget
    # a record pool's attributes are indexed as they are drawn (`seen` fills while planning)
    by_id = {a.id: a for a in pool} if isinstance(pool, list) else pool.seen
    out = SearchOutcome()
    planned = spec.planned_candidates()
    # calls are counted as the loop passes each candidate (stored or new), so a resumed search
    # spends its budget where the first attempt did
    target_calls = auditor_calls = 0
    sem = asyncio.Semaphore(spec.concurrency)

    async def one(p: Plan) -> Candidate | None:
        nonlocal target_calls, auditor_calls
        async with sem:
            if halt is not None and halt.is_set():
                return None
            c = await evaluate(spec, by_id, prompts, p, write_query=write_query, answer=answer,
                               judge=judge, judge_uses_auditor=judge_uses_auditor)
            target_calls += c.calls("target")
            auditor_calls += c.calls("auditor")
            await sink(c)
            stored[c.key] = c
            await progress(len(stored), planned, f"run {p.run + 1}/{b.runs}, iteration "
                           f"{p.iteration + 1}/{b.iterations}: {len(stored)}/{planned} candidates")
            return c

    for run in range(b.runs):
        buffer: list[Candidate] = []
        bests: list[float] = []
        for it in range(b.iterations):
            spent = _spent(b, target_calls, auditor_calls)
            if spent:
                out.stopped = spent
                return _finish(out, stored)
            if isinstance(pool, list):
                w = weights(pool, buffer)
                plans = [plan(spec, pool, w, (run, it, i), len(prompts))
                         for i in range(b.candidates_per_iteration)]
            else:
                bw = buffer_weights(buffer)
                plans = [plan_records(spec, pool, bw, (run, it, i), len(prompts))
                         for i in range(b.candidates_per_iteration)]
            for p in plans:
                if p.key in stored:
                    target_calls += stored[p.key].calls("target")
                    auditor_calls += stored[p.key].calls("auditor")
            todo = [p for p in plans if p.key not in stored]
            if b.max_target_calls is not None:
                todo = todo[: max(0, b.max_target_calls - target_calls)]
            await asyncio.gather(*(one(p) for p in todo))
            if halt is not None and halt.is_set():
                out.halted = True
                return _finish(out, stored)
            mine = [stored[p.key] for p in plans if p.key in stored]
            scored = [c for c in mine if c.score is not None]
            buffer = sorted(buffer + scored, key=lambda c: -(c.score or 0.0))[: b.buffer_size]
            best = max((c.score or 0.0 for c in scored), default=0.0)
            bests.append(best)
            mean = statistics.fmean(c.score for c in scored if c.score is not None) if scored else None
            out.curve.append({"run": run, "iteration": it, "candidates": len(mine), "scored": len(scored),
                              "best": best, "mean": mean, "buffer_best": buffer[0].score if buffer else None})
            recent = bests[-b.early_stop_iterations:]
            if len(bests) >= b.early_stop_iterations and max(recent) < b.early_stop_score:
                out.stopped = (f"early stop: run {run + 1}'s best stayed under {b.early_stop_score:g} "
                               f"for {b.early_stop_iterations} iterations")
                break
    return _finish(out, stored)


def _spent(b: Any, target_calls: int, auditor_calls: int) -> str | None:
    if b.max_target_calls is not None and target_calls >= b.max_target_calls:
        return f"budget: max_target_calls {b.max_target_calls} spent"
    if b.max_auditor_calls is not None and auditor_calls >= b.max_auditor_calls:
        return f"budget: max_auditor_calls {b.max_auditor_calls} spent"
    return None


def _finish(out: SearchOutcome, stored: dict[Key, Candidate]) -> SearchOutcome:
    out.candidates = [stored[k] for k in sorted(stored)]
    return out
