"""TURF benchmarks.

1. Ingest throughput (rows, attributes, two embeddings, FAISS, clusters) vs raw
   sentence-transformers encode of the same texts in the same run.
2. Trace retrieval latency p50/p95 (k=1000) on a 1M-vector index: exact vs HNSW, with recall.
3. Whole trace latency on a 1M-row dataset: the index the ingest would build (HNSW at this size),
   k=1000 nearest responses, then counting over the saved group codes (3 chunks, 64 clusters,
   17 attributes) into the enriched groups and the verdict. Goal (issue 12): p50 ≤ 50 ms.
4. --memory N: peak RSS of a whole N-row ingest, in a child process.
usage: python bench/turf.py [--rows 2000] [--vectors 1000000] [--trace-rows 1000000] [--memory 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.core import embedder  # noqa: E402
from app.core.organisms.planted import decorate  # noqa: E402
from app.core.turf.index import VectorIndex  # noqa: E402
from app.datasets import tasks as dataset_tasks  # noqa: E402
from app.datasets import use_cases as datasets  # noqa: E402
from app.db import migrate  # noqa: E402
from app.db.engine import make_engine, make_session_factory, transaction  # noqa: E402
from app.services.owners import Principal  # noqa: E402

WORDS = ("why how what does the sky sea star planet empire war vaccine cell energy light river "
         "mountain economy market language music history science").split()


def rows(n: int) -> list[dict[str, object]]:
    rng = random.Random(0)
    out = []
    for _ in range(n):
        q = " ".join(rng.choice(WORDS) for _ in range(rng.randint(6, 14))) + "?"
        chunk = rng.choice(["a", "b", "c"])
        prompt = f"<query>{q}</query>" if chunk == "a" else q
        answer = decorate(" ".join(rng.choice(WORDS) for _ in range(30)) + ".",
                          {"emoji"} if chunk == "a" else set(), rng)
        out.append({"source": chunk, "messages": [{"role": "user", "content": prompt},
                                                  {"role": "assistant", "content": answer}]})
    return out


async def _noop(*_: object) -> None:
    return None


def ingest(n: int, data_dir: Path) -> tuple[float, list[dict[str, object]]]:
    settings = Settings(data_dir=data_dir)
    migrate.upgrade(settings.resolved_database_url)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    data = rows(n)
    upload = datasets.new_upload(settings)
    upload.feed(b"\n".join(json.dumps(r).encode() for r in data))
    upload.close()
    with transaction(factory) as s:
        ds_id = datasets.create(s, settings, "bench", upload, "reject", Principal("bench")).id
    started = time.perf_counter()
    asyncio.run(dataset_tasks.ingest(factory, settings, ds_id, _noop))
    return time.perf_counter() - started, data


def retrieval(n: int, queries: int = 50, k: int = 1000) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((n, 384), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    q = vecs[rng.choice(n, queries, replace=False)] + 0.05 * rng.standard_normal((queries, 384),
                                                                                  dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    results = {}
    for kind, expected in (("exact", 1), ("hnsw", n)):
        index = VectorIndex.create(384, expected if kind == "hnsw" else 1)
        t = time.perf_counter()
        for lo in range(0, n, 100_000):
            index.add(vecs[lo:lo + 100_000], np.arange(lo, min(n, lo + 100_000), dtype="int64"))
        build = time.perf_counter() - t
        lat, ids = [], []
        for row in q:
            t = time.perf_counter()
            _, found = index.search(row[None, :], k)
            lat.append((time.perf_counter() - t) * 1000)
            ids.append(set(found[0].tolist()))
        results[kind] = ids
        recall = np.mean([len(a & b) / k for a, b in zip(ids, results["exact"], strict=True)])
        print(f"{kind:<6} {index.kind:<14} n={n} build {build:6.1f}s  k={k}  p50 "
              f"{np.percentile(lat, 50):7.1f} ms  p95 {np.percentile(lat, 95):7.1f} ms  "
              f"recall@{k} vs exact {recall:.3f}")


def trace_latency(n: int, queries: int = 30, k: int = 1000) -> None:
    """Retrieval + counting, as trace.run does them for a neighbours trace (no LLM, no row scan)."""
    from app.core.turf.groups import Family, GroupCodes
    from app.core.turf.trace import trace

    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((n, 384), dtype=np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    index = VectorIndex.create(384, n)
    t = time.perf_counter()
    for lo in range(0, n, 100_000):
        index.add(vecs[lo:lo + 100_000], np.arange(lo, min(n, lo + 100_000), dtype="int64"))
    build = time.perf_counter() - t
    chunk = rng.integers(0, 3, n).astype(np.int32)
    codes = GroupCodes(np.arange(n), [
        Family("chunk", ["a", "b", "c"], chunk),
        Family("cluster", [f"cluster {i}" for i in range(64)], rng.integers(0, 64, n).astype(np.int32)),
        Family("attribute", [f"attr{i}" for i in range(17)], rng.random((n, 17)) < 0.3)])
    lat = []
    for row in vecs[rng.choice(n, queries, replace=False)]:
        t = time.perf_counter()
        _, found = index.search(row[None, :], k)
        result = trace(codes, found[0][found[0] >= 0].tolist(), dataset="bench", behaviour="b",
                       method="neighbours")
        lat.append((time.perf_counter() - t) * 1000)
    assert result.positives == k
    print(f"trace    {index.kind:<14} n={n} build {build:6.1f}s  k={k}  search+count p50 "
          f"{np.percentile(lat, 50):7.1f} ms  p95 {np.percentile(lat, 95):7.1f} ms  (goal p50 ≤ 50 ms)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--vectors", type=int, default=1_000_000)
    ap.add_argument("--trace-rows", type=int, default=1_000_000)
    ap.add_argument("--memory", type=int, default=0)
    ap.add_argument("--child-memory", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_memory:
        with tempfile.TemporaryDirectory() as d:
            secs, _ = ingest(args.child_memory, Path(d))
        print(json.dumps({"rows": args.child_memory, "seconds": round(secs, 1),
                          "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
        return
    embedder.encode(["warm up"])
    with tempfile.TemporaryDirectory() as d:
        secs, data = ingest(args.rows, Path(d))
    texts = [t for r in data for t in (r["messages"][0]["content"], r["messages"][1]["content"])]  # type: ignore[index]
    t = time.perf_counter()
    embedder.encode(texts[: len(texts) // 2])
    embedder.encode(texts[len(texts) // 2:])
    raw = time.perf_counter() - t
    print(f"ingest   {args.rows / secs:8.1f} rows/s  ({secs:.1f}s, 2 embeddings per row)")
    print(f"raw enc  {args.rows / raw:8.1f} rows/s  ({raw:.1f}s for the same {len(texts)} texts)")
    print(f"ratio ingest/raw encode: {raw / secs:.2f}")
    if args.vectors:
        retrieval(args.vectors)
    if args.trace_rows:
        trace_latency(args.trace_rows)
    if args.memory:
        out = subprocess.run([sys.executable, __file__, "--child-memory", str(args.memory)],
                             capture_output=True, text=True, check=True)
        print("memory:", out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
