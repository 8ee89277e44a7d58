"""Trace use cases: create (trace + job), run (the trace.run task)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core import embedder
from app.core.behaviours.registry import build_behaviour
from app.core.jobs import JobKind
from app.core.turf.attributes import attributes
from app.core.turf.request import NoSuchFinding, TraceRequest, from_report
from app.core.turf.rows import Row
from app.core.user_regex import compile_user_regex
from app.db.engine import transaction
from app.db.repositories import datasets as repo
from app.db.repositories import jobs as jobs_repo
from app.db.repositories import traces as traces_repo
from app.db.tables import Trace
from app.errors import Conflict, InvalidInput
from app.services import audits as audits_service
from app.services import datasets as datasets_service
from app.services.auditor import ProgressFn, auditor_for, close_auditor, configured
from app.services.owners import Principal, visible
from app.services.validation import validate

PAGE = 2000


def parse_request(data: dict[str, Any]) -> TraceRequest:
    return validate(TraceRequest, data)


def resolve(session: Session, data: dict[str, Any], who: Principal) -> TraceRequest:
    """A request by reference (`audit_id` + `finding`) becomes a full one: the finding's scorer
    and its elicited examples come from the audit's report."""
    if "audit_id" not in data:
        return parse_request(data)
    ref = data.get("finding") or {}
    report = audits_service.report(session, str(data["audit_id"]), who)
    try:
        req = from_report(report, str(data["dataset"]), ref.get("feature", ""), ref.get("behaviour", ""),
                          ref.get("level"))
    except NoSuchFinding as exc:
        raise InvalidInput(f"finding: {exc}", field="finding") from None
    extra: dict[str, Any] = {k: data[k] for k in ("k", "prompt_features", "alpha", "method") if k in data}
    return parse_request({**req.model_dump(mode="json"), **extra,
                          "examples": [*req.model_dump(mode="json")["examples"],
                                       *data.get("examples", [])][:100]})


def create(session: Session, settings: Settings, data: dict[str, Any], who: Principal) -> Trace:
    from app.core.turf.attribute_index import AttributeIndex

    req = resolve(session, data, who)
    ds = datasets_service.get(session, req.dataset, who)
    if ds.status != "ready":
        raise Conflict(f"dataset {ds.name} is {ds.status}; wait for its ingest job {ds.job_id}")
    if req.method == "attributes":
        if not AttributeIndex.exists(datasets_service.dataset_dir(settings, ds.id)):
            raise Conflict(f"dataset {ds.name} has no attributes yet: run `surfturf turf attributes "
                           f"--dataset {ds.name}` (POST /v1/datasets/{ds.id}/attributes) first")
        if not configured(settings):
            raise InvalidInput("method attributes: the auditor names the crux; set SURFTURF_AUDITOR_URL "
                               "and SURFTURF_AUDITOR_MODEL", field="method")
    row = traces_repo.add(session, dataset_id=ds.id, owner=ds.owner, request=req.model_dump(mode="json"))
    row.job_id = jobs_repo.enqueue(session, JobKind.trace_run, {"trace_id": row.id}, owner=ds.owner,
                                   max_attempts=settings.job_max_attempts).id
    return row


def get(session: Session, trace_id: str, who: Principal | None = None) -> Trace:
    return visible(traces_repo.get(session, trace_id), who, "trace", trace_id)


def result(session: Session, trace_id: str, who: Principal) -> dict[str, Any]:
    row = get(session, trace_id, who)
    if row.result is None:
        job = jobs_repo.get(session, row.job_id or "")
        state = job.status if job is not None else "queued"
        raise Conflict(f"trace {trace_id} has no result ({state}); poll GET /v1/traces/{trace_id}")
    return row.result


def list_traces(session: Session, who: Principal, *, limit: int, offset: int) -> list[Trace]:
    return traces_repo.list_traces(session, owner=who.scope, limit=limit, offset=offset)


async def run(factory: sessionmaker[Session], settings: Settings, trace_id: str,
              progress: ProgressFn) -> dict[str, Any]:
    """Positives from the scorer (every row) or the examples' nearest responses, then counts per
    group. The groups come from the codes ingest saved, unless the request adds its own prompt
    features: then (or for a dataset ingested before codes existed) a scan builds them."""
    from app.core.turf.groups import UNLABELLED, GroupCodes, RowMeta, cluster_label
    from app.core.turf.ingest import GROUPS_FILE
    from app.core.turf.trace import Exemplar, trace  # scipy/statsmodels: imported here
    from app.services import events

    with transaction(factory) as s:
        t = get(s, trace_id)
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
        row = get(s, trace_id)
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
