"""An attribute pool mined from post-training data, the paper's way, through TURF's extraction
path (app/core/turf/extraction.py): the auditor model writes attributes of each sampled query,
they are embedded and clustered (faiss k-means), and each cluster's summary is one attribute.
Bounded: `queries` descriptions plus one summary per cluster (each retried once)."""

from __future__ import annotations

from typing import Any

from app.core.search.attributes import Attribute
from app.core.turf.extraction import Ask, Embed, Progress, cluster_and_summarise, describe_queries


async def mine(queries: list[str], ask: Ask, embed: Embed, *, per_query: int, clusters: int,
               progress: Progress) -> tuple[list[Attribute], dict[str, Any]]:
    described, calls = await describe_queries(ask, queries, per_query, progress)
    texts = [t for got in described for t in got]
    if len(texts) < 2:
        raise ValueError(f"the auditor model wrote {len(texts)} usable attributes for {len(queries)} "
                         "queries; a pool needs at least 2")
    found = await cluster_and_summarise(texts, embed(texts), ask, clusters)
    pool = [Attribute(f"mined.{i + 1}", s, "mined")
            for i, s in enumerate(s for s, n in zip(found.summaries, found.sizes, strict=True) if n)]
    stats = {"queries": len(queries), "auditor_calls": calls + found.stats["auditor_calls"],
             "failures": sum(not d for d in described) + found.stats["failures"],
             "attributes_written": len(texts)}
    return pool, stats
