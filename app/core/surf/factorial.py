"""Factorial execution: prompts × cells × samples → rendered messages → target → scores."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app.core.behaviours.base import Behaviour, score_all
from app.core.llm.base import ChatClient
from app.core.llm.errors import BudgetExceeded, LLMError
from app.core.surf.spec import LevelDef, ProbeSpec, PromptItem, cell_key
from app.core.triggers.base import (
    KEEP,
    Level,
    Rendered,
    RewriteLevel,
    Rewriter,
    TemplateLevel,
    VariantLevel,
)
from app.core.triggers.registry import get_feature_levels

ItemKey = tuple[str, int, int]  # (cell_key, prompt_index, sample_index)
MAX_PENDING_BATCHES = 8


@dataclass(frozen=True)
class WorkItem:
    cell: dict[str, str]
    cell_key: str
    prompt_index: int
    sample_index: int
    seed: int

    @property
    def key(self) -> ItemKey:
        return (self.cell_key, self.prompt_index, self.sample_index)


@dataclass
class SampleResult:
    """One stored sample with full provenance."""

    item: WorkItem
    messages: list[dict[str, str]]
    response: str | None
    scores: dict[str, dict[str, Any]]
    error: str | None = None
    latency_ms: float | None = None


@dataclass
class RunOutcome:
    attempted: int = 0
    stored: int = 0
    failed: int = 0
    skipped_done: int = 0
    stopped_reason: str | None = None
    halted: bool = False
    usage: dict[str, Any] = field(default_factory=dict)


def sample_seed(base: int, key: ItemKey) -> int:
    digest = hashlib.sha256(f"{base}|{key[0]}|{key[1]}|{key[2]}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def expand(spec: ProbeSpec, samples_limit: int | None = None) -> Iterator[WorkItem]:
    """Lazily, so a 100k-item design never sits in memory at once; `samples_limit` caps the
    sample index (a sequential design's rounds)."""
    n = spec.design.samples_per_prompt if samples_limit is None else samples_limit
    for cell in spec.cells():
        ck = cell_key(cell)
        for p in range(len(spec.prompts)):
            for s in range(n):
                yield WorkItem(cell, ck, p, s, sample_seed(spec.design.seed, (ck, p, s)))


def build_levels(spec: ProbeSpec) -> dict[str, dict[str, Level]]:
    out: dict[str, dict[str, Level]] = {}
    for name, f in spec.features.items():
        if f.builtin:
            known = get_feature_levels(f.builtin)
            out[name] = {lv: known[lv] for lv in f.level_names()}
        elif f.variants:
            out[name] = {lv: VariantLevel(name, lv) for lv in f.level_names()}
        else:
            assert isinstance(f.levels, dict)
            out[name] = {lv: _level(d) for lv, d in f.levels.items()}
    return out


def _level(d: str | LevelDef) -> Level:
    if isinstance(d, str):
        return TemplateLevel(d)
    if d.rewrite:
        return RewriteLevel(d.rewrite)
    return TemplateLevel(d.user, d.system) if d.system is not None else TemplateLevel(d.user)


async def render(spec: ProbeSpec, levels: dict[str, dict[str, Level]], item: WorkItem,
                 rewriter: Rewriter | None, prompts: list[PromptItem] | None = None
                 ) -> list[dict[str, str]]:
    """Rewrites and variants first (they change the question), then templates in spec order.
    `prompts` is spec.prompt_items(), when the caller renders many items (a model's private
    attribute costs a lookup through pydantic on every read)."""
    prompt = (prompts or spec.prompt_items())[item.prompt_index]
    r = Rendered(prompt.text, None, prompt.variants)
    chosen = [levels[f][item.cell[f]] for f in spec.features]
    for lv in sorted(chosen, key=lambda lv: lv.stage):
        r = await lv.apply(r, rewriter)
    return r.messages()


def longest_prompt(spec: ProbeSpec) -> tuple[int, int, dict[str, str]]:
    """(characters, prompt index, cell) of the longest prompt the design renders, system prompt
    included: a template may repeat `{prompt}`, so a small spec can multiply a prompt's length.
    Counted, not rendered; an auditor rewrite counts as keeping the length. Without per-prompt
    variants the longest base prompt renders longest, so only it is counted."""
    levels = build_levels(spec)
    items = spec.prompt_items()
    varied = any(f.variants for f in spec.features.values())
    which = range(len(items)) if varied else [max(range(len(items)), key=lambda i: len(items[i].text))]
    best: tuple[int, int, dict[str, str]] = (0, 0, {})
    for cell in spec.cells():
        chosen = sorted(((f, levels[f][cell[f]]) for f in spec.features), key=lambda x: x[1].stage)
        for i in which:
            user, system = len(items[i].text), 0
            for fname, lv in chosen:
                if isinstance(lv, TemplateLevel):
                    k = lv.user.count("{prompt}")
                    user = len(lv.user) + k * (user - len("{prompt}"))
                    system = system if lv.system is KEEP else len(lv.system or "")  # type: ignore[arg-type]
                elif isinstance(lv, VariantLevel):
                    user = len(items[i].variants.get(fname, {}).get(lv.level, ""))
            if user + system > best[0]:
                best = (user + system, i, cell)
    return best


Sink = Callable[[list[SampleResult]], Awaitable[None]]
Progress = Callable[[int, int], Awaitable[None]]


async def run_factorial(
    spec: ProbeSpec,
    client: ChatClient,
    behaviours: dict[str, Behaviour],
    *,
    sink: Sink,
    done: set[ItemKey] | None = None,
    rewriter: Rewriter | None = None,
    progress: Progress | None = None,
    batch_size: int = 64,
    samples_limit: int | None = None,
    halt: asyncio.Event | None = None,
    part: tuple[int, int] | None = None,
) -> RunOutcome:
    """Runs every item not in `done`; results go to `sink` in batches (idempotent keys).

    `design.concurrency` lanes keep that many requests in flight; a writer task stores batches
    behind them, so a database write never holds up sampling (it pushes back only when
    `MAX_PENDING_BATCHES` wait). A failed write stops the lanes and is raised here.
    Once `halt` is set no new request starts; those in flight finish and are stored, and the
    outcome says `halted`. `part` = (start, stop) runs only those positions of the design's
    order (one chunk of a chunked audit); progress then counts that part."""
    done = done or set()
    items: Iterator[WorkItem]
    if part is None:
        total, finished = spec.work_item_count(), len(done)
        items = (it for it in expand(spec, samples_limit) if it.key not in done)
    else:
        mine = list(itertools.islice(expand(spec, samples_limit), *part))
        todo = [it for it in mine if it.key not in done]
        total, finished = len(mine), len(mine) - len(todo)
        items = iter(todo)
    levels = build_levels(spec)
    prompts = spec.prompt_items()
    d = spec.design
    outcome = RunOutcome(skipped_done=finished)
    buffer: list[SampleResult] = []
    stop = asyncio.Event()
    last_progress = 0.0
    pending: asyncio.Queue[list[SampleResult] | None] = asyncio.Queue(MAX_PENDING_BATCHES)
    failure: list[BaseException] = []

    async def writer() -> None:
        while (batch := await pending.get()) is not None:
            if failure:
                continue  # keep draining so no lane waits on a full queue
            try:
                await sink(batch)
                outcome.stored += len(batch)
            except Exception as exc:  # raised by run_factorial once the lanes stop
                failure.append(exc)
                stop.set()

    async def report(force: bool = False) -> None:
        nonlocal last_progress
        now = time.monotonic()
        if progress and (force or now - last_progress > 0.5):
            last_progress = now
            await progress(finished, total)

    async def one(item: WorkItem) -> SampleResult:
        messages = await render(spec, levels, item, rewriter, prompts)
        params: dict[str, Any] = {"temperature": d.temperature, "seed": item.seed,
                                  "max_tokens": d.max_tokens, "top_p": d.top_p}
        try:
            resp = await client.chat(messages, **params)
        except BudgetExceeded:
            raise
        except LLMError as err:
            return SampleResult(item, messages, None, {}, error=err.message)
        scores = await score_all(behaviours, resp.text, prompt=messages[-1]["content"])
        return SampleResult(item, messages, resp.text, scores, latency_ms=resp.latency_ms)

    async def lane() -> None:
        nonlocal finished, buffer
        while not stop.is_set():
            if halt is not None and halt.is_set():
                outcome.halted = True
                return
            try:
                item = next(items)
            except StopIteration:
                return
            try:
                result = await one(item)
            except BudgetExceeded as exc:
                outcome.stopped_reason = str(exc)
                stop.set()
                return
            outcome.attempted += 1
            outcome.failed += result.error is not None
            finished += 1
            buffer.append(result)
            if len(buffer) >= batch_size:
                batch, buffer = buffer, []
                await pending.put(batch)
            await report()

    writing = asyncio.create_task(writer())
    try:
        await asyncio.gather(*(lane() for _ in range(spec.design.concurrency)))
        if buffer:
            await pending.put(buffer)
            buffer = []
        await pending.put(None)
        await writing
    finally:
        if not writing.done():  # cancelled (job cancel, lost lease): stop the writer too
            writing.cancel()
    if failure:
        raise failure[0]
    await report(force=True)
    outcome.usage = client.usage.as_dict()
    return outcome
