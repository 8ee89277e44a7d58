"""TURF by attributes: extraction throughput against raw concurrent calls, and the attribute
trace's latency at a million rows.

1. Throughput: `app.datasets.tasks.run_attributes` (the local engine: rows read in batches, described
   through surfturf's auditor client, appended to the log) over N ingested rows, against raw
   asyncio + httpx sending the same number of requests at the same concurrency to the same stub
   auditor on loopback (it answers after --latency-ms). Ratio raw time / ours (goal >= 0.9).
2. Ray: the same describing over --ray-rows rows through the Ray Data pipeline (local Ray, 2
   CPUs, 2 actors) against the stub: rows/s, the driver's peak RSS, and the projection to 1M rows.
3. Trace latency: `trace_attributes` over synthetic attribute vectors for --rows rows (one
   response attribute per row, MiniLM's 384 dimensions, exact FAISS search, 64 query clusters of
   ~10 attributes per row), no auditor calls: p50 and p95 over --queries crux (goal p50 <= 200 ms).

    python bench/turf_attributes.py [--extract-rows 400] [--latency-ms 20] [--ray-rows 100000]
                                    [--rows 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.openai_server import Reply, Sampling, create_openai_app  # noqa: E402
from app.serving import serve_in_thread  # noqa: E402

ANSWER = "\n".join([f"- The query is about topic {i}" for i in range(10)]
                   + [f"- The response has trait {i}" for i in range(10)])


def stub(latency: float) -> object:
    async def respond(messages: list[dict[str, str]], sampling: Sampling) -> Reply:
        await asyncio.sleep(latency)
        return Reply(ANSWER, 50, 50)

    return create_openai_app("stub", respond, title="stub auditor")


async def raw(url: str, n: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=concurrency)) as c:
        async def one(i: int) -> None:
            async with sem:
                r = await c.post(url + "/v1/chat/completions", json={
                    "model": "stub", "messages": [{"role": "user", "content": f"row {i}"}],
                    "temperature": 0.0, "max_tokens": 600, "seed": 0})
                r.raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        return time.perf_counter() - started


def dataset_of(url: str, n: int) -> tuple[object, object, str]:
    """A SQLite dataset of n rows (no embeddings: only the describing is measured)."""
    from app.config import Settings
    from app.db import migrate
    from app.db.engine import make_engine, make_session_factory, transaction
    from app.db.repositories import datasets as repo

    tmp = Path(tempfile.mkdtemp())
    settings = Settings(data_dir=tmp, database_url=f"sqlite:///{tmp / 'db.sqlite'}",
                        auditor_url=url + "/v1", auditor_model="stub",
                        secret_key="bench-secret-key-of-enough-length")
    migrate.upgrade(settings.resolved_database_url)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with transaction(factory) as s:
        ds = repo.add(s, name="bench", owner="local", status="ready", n_rows=n, meta={}, upload_path="")
        dataset_id = ds.id
    for lo in range(0, n, 20_000):
        with transaction(factory) as s:
            repo.insert_rows(s, dataset_id, [{"ordinal": i, "line": i + 1, "prompt": f"question {i}?",
                                              "response": f"answer {i}.", "source": "bench"}
                                             for i in range(lo, min(n, lo + 20_000))])
    return settings, factory, dataset_id


def ray_rows(url: str, n: int, concurrency: int) -> dict[str, float]:
    import resource

    from app.datasets import attributes_ray

    settings, _, dataset_id = dataset_of(url, n)
    started = time.perf_counter()
    parts = attributes_ray.describe(settings, dataset_id, list(range(n)), 10, concurrency)  # type: ignore[arg-type]
    got = sum(len(part) for part in parts)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rate = got / seconds
    return {"rows": got, "seconds": round(seconds, 1), "rows_per_s": round(rate, 1),
            "driver_peak_mib": round(peak), "projected_1m_hours": round(1_000_000 / rate / 3600, 2)}


def ours(url: str, n: int, concurrency: int) -> float:
    settings, factory, dataset_id = dataset_of(url, n)

    async def quiet(*_: object) -> None:
        return None

    payload = {"dataset_id": dataset_id, "all": True, "rows": None, "concurrency": concurrency,
               "clusters": 8}
    started = time.perf_counter()
    # the describing alone: the job with build() (embedding, k-means) left out
    asyncio.run(_describe_only(factory, settings, payload, quiet))
    return time.perf_counter() - started


async def _describe_only(factory: object, settings: object, payload: dict[str, object],
                         progress: object) -> None:
    """The job with its clustering step left out (what raw calls are compared with)."""
    import app.core.turf.attribute_index as ai
    from app.datasets import tasks as dataset_attributes

    async def no_build(*_: object, **__: object) -> dict[str, object]:
        return dict(dataset_attributes.EMPTY)

    saved = ai.build
    ai.build = no_build
    try:
        await dataset_attributes.run_attributes(factory, settings, payload, progress)  # type: ignore[arg-type]
    finally:
        ai.build = saved


def trace_latency(rows: int, queries: int) -> dict[str, list[float]]:
    from app.core.turf.attribute_index import AttributeIndex
    from app.core.turf.attribute_trace import trace_attributes
    from app.core.turf.index import VectorIndex

    rng = np.random.default_rng(0)
    dim, k_clusters, per_row = 384, 64, 10
    vectors = rng.standard_normal((rows, dim), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = VectorIndex.create(dim, rows, exact_limit=rows + 1)
    index.add(vectors, np.arange(rows, dtype=np.int64))
    del vectors
    query_row = np.repeat(np.arange(rows, dtype=np.int64), per_row)
    attrs = AttributeIndex(np.arange(rows, dtype=np.int64), query_row,
                           rng.integers(0, k_clusters, size=len(query_row)),
                           np.arange(rows, dtype=np.int64), np.zeros((k_clusters, dim), dtype=np.float32),
                           [f"cluster {c}" for c in range(k_clusters)], [0] * k_clusters)
    import dataclasses

    times: dict[str, list[float]] = {"cold": [], "warm": []}
    for q in range(queries):
        crux = rng.standard_normal((1, dim), dtype=np.float32)
        crux /= np.linalg.norm(crux)
        # cold: a fresh index object (as a trace job loads it: its cluster membership is built);
        # warm: the same object again (a process that keeps it)
        kind = "cold" if q % 2 == 0 else "warm"
        use = dataclasses.replace(attrs) if kind == "cold" else attrs
        started = time.perf_counter()
        trace_attributes(use, index, [f"crux {q}"], crux, {0, 1}, lambda pos: ["chunk"] * len(pos),
                         behaviour="b", k=1000, alpha=0.05)
        times[kind].append(time.perf_counter() - started)
    return times


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--extract-rows", type=int, default=400)
    ap.add_argument("--latency-ms", type=float, default=20)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--ray-rows", type=int, default=100_000, help="0: skip the Ray part")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=20)
    args = ap.parse_args()
    with serve_in_thread(stub(args.latency_ms / 1000)) as url:
        base = asyncio.run(raw(url, args.extract_rows, args.concurrency))
        mine = ours(url, args.extract_rows, args.concurrency)
        print(json.dumps({"extract_rows": args.extract_rows, "latency_ms": args.latency_ms,
                          "raw_s": round(base, 2), "surfturf_s": round(mine, 2),
                          "ratio_raw_over_ours": round(base / mine, 3)}))
        if args.ray_rows:
            print(json.dumps({"ray": ray_rows(url, args.ray_rows, args.concurrency)}))
    times = trace_latency(args.rows, args.queries)
    print(json.dumps({"rows": args.rows, "queries": args.queries, **{
        f"{kind}_p50_ms": round(1000 * statistics.median(t), 1) for kind, t in times.items()}, **{
        f"{kind}_max_ms": round(1000 * max(t), 1) for kind, t in times.items()}}))


if __name__ == "__main__":
    main()
