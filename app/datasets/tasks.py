"""dataset.ingest, dataset.attributes and trace.run: what a worker runs for TURF. Ingest builds a
dataset's rows, embeddings, FAISS indexes and group codes; attributes has the auditor describe
rows; a trace scores the rows for a behaviour and finds what taught it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core import embedder
from app.core.behaviours.registry import build_behaviour
from app.core.jobs import JobKind
from app.core.turf.attributes import attributes
from app.core.turf.request import TraceRequest
from app.core.turf.rows import Row
from app.core.user_regex import compile_user_regex
from app.datasets import traces as traces_service
from app.datasets import use_cases as datasets_service
from app.datasets.attributes import ExtractionRequest, chosen_rows
from app.db.engine import transaction
from app.db.repositories import datasets as repo
from app.jobs.context import JobContext
from app.jobs.registry import task
from app.services.auditor import ProgressFn, auditor_for, close_auditor, configured

PAGE = 2000
BATCH = 32  # rows described, then appended to the log, at a time
EMPTY = {"rows": 0, "query_attributes": 0, "response_attributes": 0, "clusters": 0, "summary_calls": 0,
         "summary_failures": 0}


class _DatabaseRows:
    """TURF's RowStore (app/core/turf/ingest.py) over the dataset_rows table, a transaction a call."""

    def __init__(self, factory: sessionmaker[Session], dataset_id: str) -> None:
        self.factory, self.dataset_id = factory, dataset_id

    def insert(self, rows: list[dict[str, Any]]) -> None:
        with transaction(self.factory) as s:
            repo.insert_rows(s, self.dataset_id, rows)

    def read(self, lo: int, hi: int, columns: tuple[str, ...]) -> list[Any]:
        with transaction(self.factory) as s:
            return repo.rows_in_range(s, self.dataset_id, lo, hi, columns)

    def set_clusters(self, pairs: list[tuple[Any, int]]) -> None:
        with transaction(self.factory) as s:
            repo.set_clusters(s, pairs)


async def ingest(factory: sessionmaker[Session], settings: Settings, dataset_id: str,
                 progress: ProgressFn, batch: int = 256) -> dict[str, Any]:
    """The core pipeline (app/core/turf/ingest.py) over this dataset's upload and rows."""
    from app.core.turf.ingest import ingest as run_ingest  # torch, faiss: imported where they run
    from app.webhooks import events

    with transaction(factory) as s:
        ds = datasets_service.get(s, dataset_id)
        path, total = Path(ds.upload_path), int(ds.meta.get("lines", 0)) - int(ds.meta.get("bad_lines", 0))
    folder = datasets_service.dataset_dir(settings, dataset_id)
    meta = await run_ingest(path, _DatabaseRows(factory, dataset_id), folder, progress, total=total,
                            batch=batch, exact_limit=settings.turf_exact_limit)
    with transaction(factory) as s:
        ds = datasets_service.get(s, dataset_id)
        ds.n_rows, ds.status = meta["rows"], "ready"
        ds.meta = {**ds.meta, **meta}
        events.dataset_ready(s, settings, ds)
    return {"dataset_id": dataset_id, "rows": meta["rows"], "skipped": len(ds.skipped or [])}


async def run_trace(factory: sessionmaker[Session], settings: Settings, trace_id: str,
              progress: ProgressFn) -> dict[str, Any]:
    """Positives from the scorer (every row) or the examples' nearest responses, then counts per
    group. The groups come from the codes ingest saved, unless the request adds its own prompt
    features: then (or for a dataset ingested before codes existed) a scan builds them."""
    from app.core.turf.groups import UNLABELLED, GroupCodes, RowMeta, cluster_label
    from app.core.turf.ingest import GROUPS_FILE
    from app.core.turf.trace import Exemplar, trace  # scipy/statsmodels: imported here
    from app.webhooks import events

    with transaction(factory) as s:
        t = traces_service.get(s, trace_id)
        ds = datasets_service.get(s, t.dataset_id)
        req = TraceRequest.model_validate(t.request)
        dataset_id, name, n, labels = ds.id, ds.name, ds.n_rows, ds.meta.get("clusters", {})
    folder = datasets_service.dataset_dir(settings, dataset_id)
    scorer = None
    if req.behaviour is not None:
        scorer_id, params = req.behaviour.scorer()
        scorer = build_behaviour(scorer_id, params,
                                 client=auditor_for(settings, req.behaviour.needs_auditor()))
    custom = {name: compile_user_regex(rx) for name, rx in req.prompt_features.items()}
    saved = folder / GROUPS_FILE
    # np.load of a million rows' codes is I/O: off the event loop, like the page reads below
    codes = await asyncio.to_thread(GroupCodes.load, saved) if saved.exists() and not custom else None
    meta: list[RowMeta] = []
    positives: set[int] = set()

    def scan(page: list[Any]) -> list[int]:
        """Off the event loop: user regexes and CPU scorers over one page of rows."""
        hits = []
        for r in page:
            if codes is None:
                text = f"{r.system or ''}\n{r.prompt}"
                extra = tuple(f"custom:{name}" for name, rx in custom.items() if rx.search(text))
                meta.append(RowMeta(r.ordinal, r.source or UNLABELLED, cluster_label(labels, r.cluster),
                                    tuple(r.attributes) + extra))
            if scorer is not None and scorer.blocking and scorer.score_text(
                    r.response, prompt=r.prompt).elicited:
                hits.append(r.ordinal)
        return hits

    columns = (("ordinal", "prompt", "response") if codes is not None  # the codes hold the groups
               else ("ordinal", "source", "cluster", "attributes", "system", "prompt", "response"))
    for lo in range(0, n if scorer is not None or codes is None else 0, PAGE):
        with transaction(factory) as s:
            page = repo.rows_in_range(s, dataset_id, lo, lo + PAGE, columns)
        positives.update(await asyncio.to_thread(scan, page))
        if scorer is not None and not scorer.blocking:
            for r in page:
                if (await scorer.score(r.response, prompt=r.prompt)).elicited:
                    positives.add(r.ordinal)
        await progress(min(lo + PAGE, n), n, "scoring training responses")
    # A scorer is exact over all the data; without one, the research's nearest-response retrieval.
    method = "scorer" if scorer is not None else "neighbours"
    if scorer is None:
        positives = await asyncio.to_thread(_neighbours, folder, [e.response for e in req.examples],
                                            min(req.k, max(1, n // 10)))
    query = await asyncio.to_thread(_query_features, folder, labels,
                                    [e.prompt for e in req.examples if e.prompt])
    groups = codes if codes is not None else GroupCodes.build(meta)
    result = trace(groups, positives, dataset=name, behaviour=req.behaviour_name, method=method,
                   query_features=query, alpha=req.alpha)
    top = result.top_chunk
    picks = groups.ordinals_in("chunk", top, positives)[:5] if top else sorted(positives)[:5]
    with transaction(factory) as s:
        rows = repo.rows_by_ordinal(s, dataset_id, picks)
        result.exemplars = [Exemplar(ordinal=r.ordinal, ext_id=r.ext_id, chunk=r.source or UNLABELLED,
                                     prompt=r.prompt, response=r.response) for r in rows]
    if req.method != "groups" and configured(settings):
        from app.core.turf.attribute_index import AttributeIndex

        if AttributeIndex.exists(folder):
            await progress(n, n, "tracing by attributes")
            result.attribute_trace = await _by_attributes(factory, settings, dataset_id, req, result)
    with transaction(factory) as s:
        row = traces_service.get(s, trace_id)
        row.result = result.model_dump(mode="json")
        events.trace_completed(s, settings, row, row.result)
    await progress(n, n, "done")
    return {"trace_id": trace_id, "top_chunk": top, "trigger": result.trigger,
            "positives": result.positives}


async def _by_attributes(factory: sessionmaker[Session], settings: Settings, dataset_id: str,
                         req: TraceRequest, found: Any) -> Any:
    """The paper's trace: the auditor names the crux of the failing responses (the examples, else
    positives the groups method found) and describes the failing prompts; FAISS and counts do
    the rest (app/core/turf/attribute_trace.py)."""
    import numpy as np

    from app.core.turf.attribute_index import AttributeIndex
    from app.core.turf.attribute_trace import crux_prompt, parse_crux, trace_attributes
    from app.core.turf.extraction import ask_once_more, asker, describe_queries
    from app.core.turf.groups import UNLABELLED
    from app.core.turf.index import VectorIndex

    folder = datasets_service.dataset_dir(settings, dataset_id)
    index, responses = await asyncio.to_thread(
        lambda: (AttributeIndex.load(folder), VectorIndex.load(folder / "attributes" / "responses.faiss")))
    failing = [e.response for e in req.examples] or [x.response for x in found.exemplars]
    prompts = [e.prompt for e in req.examples if e.prompt] or [x.prompt for x in found.exemplars]
    auditor = auditor_for(settings, True)
    assert auditor is not None

    ask = asker(auditor, 400)

    async def quiet(*_: Any) -> None:
        return None

    try:
        crux, _ = await ask_once_more(ask, crux_prompt(req.behaviour_name, failing), parse_crux)
        described, _ = await describe_queries(ask, prompts[:8], 5, quiet)
    finally:
        await close_auditor(settings, auditor)
    crux = crux or [f"The response shows {req.behaviour_name}"]  # no usable crux: the behaviour itself
    own = [t for d in described for t in d]
    failing_clusters = ({int(c) for c in (embedder.encode(own) @ index.centroids.T).argmax(axis=1)}
                        if own else set())

    def chunk_of(positions: np.ndarray) -> list[str]:
        with transaction(factory) as s:
            rows = repo.rows_by_ordinal(s, dataset_id, index.rows[positions].tolist())
            return [r.source or UNLABELLED for r in rows]

    # the paper's k (1000) against ~1M rows; on a small dataset at most a tenth of what there is,
    # or "nearest" would be everything (the neighbours method caps the same way)
    k = min(req.k, max(1, responses.size // 10))
    return await asyncio.to_thread(trace_attributes, index, responses, crux, embedder.encode(crux),
                                   failing_clusters, chunk_of, behaviour=req.behaviour_name, k=k,
                                   alpha=req.alpha)


def _neighbours(folder: Any, responses: list[str], k: int) -> set[int]:
    from app.core.turf.index import VectorIndex

    index = VectorIndex.load(folder / "responses.faiss")
    _, ids = index.search(embedder.encode(responses), k)
    return {int(i) for i in ids.ravel() if i >= 0}


def _query_features(folder: Any, labels: dict[str, str], prompts: list[str]) -> set[str]:
    """The failing prompts' own lexical attributes and nearest prompt clusters (research step 4)."""
    import numpy as np

    from app.core.turf.groups import cluster_label

    if not prompts:
        return set()
    feats = {a for p in prompts for a in attributes(Row(None, None, None, p, ""))}
    centroids = np.load(folder / "centroids.npy")
    nearest = (embedder.encode(prompts) @ centroids.T).argmax(axis=1)
    return feats | {cluster_label(labels, int(c)) for c in nearest}


async def run_attributes(factory: sessionmaker[Session], settings: Settings, payload: dict[str, Any],
              progress: ProgressFn) -> dict[str, Any]:
    from app.core import embedder
    from app.core.turf.attribute_index import AttributeLog, build
    from app.core.turf.extraction import answer_tokens, asker, describe_row
    from app.core.turf.index import cluster_count

    dataset_id = payload["dataset_id"]
    req = ExtractionRequest.model_validate({k: v for k, v in payload.items() if k != "dataset_id"})
    with transaction(factory) as s:
        n = datasets_service.get(s, dataset_id).n_rows
    folder = datasets_service.dataset_dir(settings, dataset_id)
    log = AttributeLog(folder)
    done = await asyncio.to_thread(log.read)
    wanted = chosen_rows(n, req)
    todo = [o for o in wanted if o not in done]
    calls = sum(r.calls for r in done.values())
    auditor = auditor_for(settings, True)
    assert auditor is not None
    sem = asyncio.Semaphore(req.concurrency)

    ask = asker(auditor, answer_tokens(req.per_row))

    async def one(o: int, prompt: str, response: str) -> Any:
        async with sem:
            return await describe_row(ask, o, prompt, response, req.per_row)

    stopped = None
    encode: Any = embedder.encode
    try:
        if req.engine == "ray":
            from app.datasets import attributes_ray

            encode = attributes_ray.embed
            offset = len(wanted) - len(todo)
            async for part in _ray_slices(settings, dataset_id, todo, req):
                if req.max_auditor_calls is not None and calls >= req.max_auditor_calls:
                    stopped = f"max_auditor_calls {req.max_auditor_calls} spent"
                    break
                await asyncio.to_thread(log.append, part)
                for d in part:
                    done[d.ordinal] = d
                calls += sum(d.calls for d in part)
                offset += len(part)
                await progress(offset, len(wanted), f"described {offset}/{len(wanted)} rows (ray)")
            todo = []
        # a window of rows in flight, not batch by batch: the auditor never waits for a batch's
        # slowest row or for the log's write; what is done is appended BATCH rows at a time
        described = len(wanted) - len(todo)
        pending: set[asyncio.Task[Any]] = set()
        ready: list[Any] = []
        next_row = 0
        while next_row < len(todo) or pending:
            spent = req.max_auditor_calls is not None and calls >= req.max_auditor_calls
            if spent and stopped is None and next_row < len(todo):
                stopped = f"max_auditor_calls {req.max_auditor_calls} spent"
            while not spent and next_row < len(todo) and len(pending) < 4 * max(req.concurrency, BATCH):
                batch = todo[next_row:next_row + BATCH]
                next_row += len(batch)
                with transaction(factory) as s:
                    rows = [(r.ordinal, r.prompt, r.response)
                            for r in repo.rows_by_ordinal(s, dataset_id, batch)]
                pending.update(asyncio.create_task(one(*r)) for r in rows)
            if not pending:
                break
            finished, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            ready += [t.result() for t in finished]
            calls += sum(t.result().calls for t in finished)
            if len(ready) >= BATCH or not pending:
                await asyncio.to_thread(log.append, ready)
                for d in ready:
                    done[d.ordinal] = d
                described += len(ready)
                ready = []
                await progress(described, len(wanted), f"described {described}/{len(wanted)} rows")
        await progress(len(wanted), len(wanted), "clustering and indexing the attributes")
        mine = {o: done[o] for o in wanted if o in done}
        n_query = sum(len(r.query) for r in mine.values() if r.ok)
        built = EMPTY
        if n_query:  # a weak auditor may write nothing usable: counted, said, never a crash
            built = await build(mine, encode, ask, req.clusters or cluster_count(n_query), folder,
                                settings.turf_exact_limit)
    finally:
        await close_auditor(settings, auditor)
    coverage = {"status": "ready" if n_query else "empty", "engine": req.engine, "rows_wanted": len(wanted),
                "rows_described": len(mine),
                "rows_failed": sum(not r.ok for r in mine.values()),
                "auditor_calls": calls + built["summary_calls"],
                "per_row": req.per_row, "stopped": stopped, **built}
    with transaction(factory) as s:
        ds = datasets_service.get(s, dataset_id)
        ds.meta = {**(ds.meta or {}), "attributes": coverage}
    return {"dataset_id": dataset_id, **coverage}


def _ray_slices(settings: Settings, dataset_id: str, todo: list[int], req: ExtractionRequest) -> Any:
    """The Ray pipeline's slices, each computed in a thread (Ray's driver calls block)."""
    from app.datasets import attributes_ray

    it = attributes_ray.describe(settings, dataset_id, todo, req.per_row, req.concurrency)

    class Slices:
        def __aiter__(self) -> Slices:
            return self

        async def __anext__(self) -> list[Any]:
            part = await asyncio.to_thread(next, it, None)
            if part is None:
                raise StopAsyncIteration
            return list(part)

    return Slices()


# What a worker runs: each job kind's task, registered with app/jobs/registry.py.

@task(JobKind.dataset_ingest)
async def ingest_task(ctx: JobContext) -> dict[str, Any]:
    return await ingest(ctx.session_factory, ctx.settings, ctx.payload["dataset_id"], ctx.progress)


@task(JobKind.dataset_attributes)
async def attributes_task(ctx: JobContext) -> dict[str, Any]:
    return await run_attributes(ctx.session_factory, ctx.settings, ctx.payload, ctx.progress)


@task(JobKind.trace_run)
async def trace_task(ctx: JobContext) -> dict[str, Any]:
    return await run_trace(ctx.session_factory, ctx.settings, ctx.payload["trace_id"], ctx.progress)
