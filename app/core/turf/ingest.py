"""Ingest: an upload's rows → attributes → embeddings → FAISS indexes (prompts, responses) →
k-means prompt clusters and their labels → the group codes traces count over.

Storage is passed in (`RowStore`; the service backs it with the database), so this pipeline is
the same whoever keeps the rows. It streams in batches: memory is bounded by a batch, the
indexes and a few bytes of group codes per row, never by the dataset.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from app.core import embedder
from app.core.turf.attributes import attributes
from app.core.turf.groups import UNLABELLED, GroupCodesBuilder, cluster_label
from app.core.turf.index import EXACT_LIMIT, VectorIndex, cluster_count, kmeans
from app.core.turf.labels import ClusterTerms
from app.core.turf.upload import read_rows

GROUPS_FILE = "groups.npz"
PAGE = 2000
Progress = Callable[[int, int | None, str | None], Awaitable[None]]


class RowStore(Protocol):
    """Where a dataset's rows live; rows read back have the attributes named in `columns`."""

    def insert(self, rows: list[dict[str, Any]]) -> None: ...

    def read(self, lo: int, hi: int, columns: tuple[str, ...]) -> list[Any]:
        """Rows with lo ≤ ordinal < hi, in ordinal order."""
        ...

    def set_clusters(self, pairs: list[tuple[Any, int]]) -> None:
        """(row id, cluster) for each row."""
        ...


async def ingest(upload: Path, store: RowStore, out: Path, progress: Progress, *, total: int,
                 batch: int = 256, exact_limit: int = EXACT_LIMIT) -> dict[str, Any]:
    """Returns the dataset's meta: rows, index type, clusters and their labels, seconds."""
    started = time.perf_counter()
    await progress(0, total, "storing rows")
    loop = asyncio.get_running_loop()

    def stored(k: int) -> None:  # from the storing thread: progress counts rows as they land
        async def say() -> None:
            await progress(k, total, "storing rows")

        asyncio.run_coroutine_threadsafe(say(), loop).result()

    n = await asyncio.to_thread(_store_rows, upload, store, stored)
    dim = await asyncio.to_thread(embedder.dimension)  # loads the model: never on the loop
    prompts, responses = VectorIndex.create(dim, n, exact_limit), VectorIndex.create(dim, n, exact_limit)
    for lo in range(0, n, batch):
        part = await asyncio.to_thread(store.read, lo, lo + batch, ("ordinal", "prompt", "response"))
        ids = np.array([r.ordinal for r in part], dtype="int64")
        prompts.add(await asyncio.to_thread(embedder.encode, [r.prompt for r in part]), ids)
        responses.add(await asyncio.to_thread(embedder.encode, [r.response for r in part]), ids)
        await progress(lo + len(part), n, "embedding")
    prompts.save(out / "prompts.faiss")
    responses.save(out / "responses.faiss")
    await progress(n, n, "clustering prompts")
    meta = await asyncio.to_thread(_cluster, store, prompts, out, n)
    await progress(n, n, "done")
    return {**meta, "index_type": prompts.kind, "rows": n,
            "seconds": round(time.perf_counter() - started, 2)}


def _store_rows(upload: Path, store: RowStore, stored: Callable[[int], None]) -> int:
    ordinal, pending = 0, []
    for line, row in read_rows(upload):
        pending.append({"ordinal": ordinal, "line": line, "ext_id": row.ext_id, "source": row.source,
                        "system": row.system, "prompt": row.prompt, "response": row.response,
                        "attributes": attributes(row)})
        ordinal += 1
        if len(pending) >= PAGE:
            store.insert(pending)
            pending = []
            stored(ordinal)
    store.insert(pending)
    stored(ordinal)
    return ordinal


def _cluster(store: RowStore, index: VectorIndex, out: Path, n: int) -> dict[str, Any]:
    """k-means on a sample (≤ 50k prompts), every row to its nearest centroid, labels from the
    clusters' distinctive terms, and the rows' group codes saved for traces."""
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n, size=min(n, 50_000), replace=False))
    centroids, _ = kmeans(index.vectors(sample), cluster_count(n))
    np.save(out / "centroids.npy", centroids)
    cindex = VectorIndex.create(centroids.shape[1], len(centroids))
    cindex.add(centroids, np.arange(len(centroids), dtype="int64"))
    names, codes = ClusterTerms(), GroupCodesBuilder()
    for lo in range(0, n, PAGE):
        part = store.read(lo, lo + PAGE, ("id", "ordinal", "prompt", "source", "attributes"))
        _, nearest = cindex.search(index.vectors(np.array([r.ordinal for r in part])), 1)
        clusters = [int(c) for c in nearest[:, 0]]
        store.set_clusters([(r.id, c) for r, c in zip(part, clusters, strict=True)])
        for r, c in zip(part, clusters, strict=True):
            names.add(r.prompt, c)
            codes.add(r.ordinal, r.source or UNLABELLED, c, r.attributes)
    labels = {str(k): v for k, v in sorted(names.labels().items())}
    codes.build(lambda c: cluster_label(labels, int(str(c)))).save(out / GROUPS_FILE)
    return {"clusters": labels, "n_clusters": len(centroids)}
