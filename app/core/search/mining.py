"""An attribute pool mined from post-training data, the paper's way: the auditor model writes
attributes of each sampled query, they are embedded and clustered (faiss k-means), and each
cluster is summarised into one attribute. Bounded: `queries` descriptions plus one summary per
cluster (each retried once when nothing usable comes back)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from app.core.search.attributes import Attribute
from app.core.turf.index import kmeans

DESCRIBE = ("Here is a message a user sent to an AI assistant:\n\n{query}\n\nList {n} short attributes "
            "of this message, one per line, each a sentence starting with 'The query'. Output only "
            "the list.")
SUMMARISE = ("These attributes describe messages users sent to an AI assistant:\n{items}\n\nWrite one "
             "attribute that they share, as one sentence starting with 'The query'. Output only that "
             "sentence.")
BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)]|\(\d+\))\s*")

Ask = Callable[[str], Awaitable[str]]
Embed = Callable[[list[str]], np.ndarray]
Progress = Callable[[int, int, str], Awaitable[None]]


def parse_attributes(text: str, limit: int) -> list[str]:
    """Lines that read as attributes, bullets and numbering removed."""
    out: list[str] = []
    for line in text.splitlines():
        item = BULLET.sub("", line).strip().strip('"').strip()
        if 8 <= len(item) <= 300 and item.lower() not in {x.lower() for x in out}:
            out.append(item)
    return out[:limit]


async def _ask_once_more(ask: Ask, prompt: str, limit: int) -> tuple[list[str], int]:
    got = parse_attributes(await ask(prompt), limit)
    if got:
        return got, 1
    return parse_attributes(await ask(prompt), limit), 2


async def mine(queries: list[str], ask: Ask, embed: Embed, *, per_query: int, clusters: int,
               progress: Progress, concurrency: int = 8) -> tuple[list[Attribute], dict[str, Any]]:
    sem = asyncio.Semaphore(concurrency)
    done = 0
    stats = {"queries": len(queries), "auditor_calls": 0, "failures": 0}

    async def describe(q: str) -> list[str]:
        nonlocal done
        async with sem:
            got, calls = await _ask_once_more(ask, DESCRIBE.format(query=q[:4000], n=per_query), per_query)
        stats["auditor_calls"] += calls
        stats["failures"] += not got
        done += 1
        await progress(done, len(queries), f"mining attributes: described {done}/{len(queries)} queries")
        return got

    texts = [t for got in await asyncio.gather(*(describe(q) for q in queries)) for t in got]
    if len(texts) < 2:
        raise ValueError(f"the auditor model wrote {len(texts)} usable attributes for {len(queries)} "
                         "queries; a pool needs at least 2")
    vectors = embed(texts)
    centroids, assign = kmeans(vectors, clusters)
    pool: list[Attribute] = []
    for c in range(len(centroids)):
        members = [i for i in range(len(texts)) if assign[i] == c]
        if not members:
            continue
        members.sort(key=lambda i: -float(vectors[i] @ centroids[c]))
        listed = "\n".join(f"- {texts[i]}" for i in members[:10])
        async with sem:
            got, calls = await _ask_once_more(ask, SUMMARISE.format(items=listed), 1)
        stats["auditor_calls"] += calls
        stats["failures"] += not got
        summary = got[0] if got else texts[members[0]]  # the medoid when no summary came back
        pool.append(Attribute(f"mined.{len(pool) + 1}", summary, "mined"))
    stats["attributes_written"] = len(texts)
    return pool, stats
