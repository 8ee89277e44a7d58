"""Attributes an auditor model writes for training rows, and the clusters they form: the one path
behind a dataset's attributes (TURF, as the paper runs it) and a search's pool mined from a
dataset. Each row gets ~10 query attributes ("The query …") and ~10 response attributes ("The
response …"); query attributes are embedded, clustered (faiss k-means) and each cluster is
summarised by the auditor. An answer that yields nothing usable is asked once more, then counted
as a failure, never raised."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from app.core.turf.index import kmeans

DESCRIBE_QUERY = ("Here is a message a user sent to an AI assistant:\n\n{query}\n\nList {n} short "
                  "attributes of this message, one per line, each a sentence starting with 'The query'. "
                  "Output only the list.")
DESCRIBE_ROW = ("Here is one exchange from an AI assistant's training data.\n<query>\n{query}\n</query>\n"
                "<response>\n{response}\n</response>\n\nList {n} short attributes of the query, one per "
                "line, each a sentence starting with 'The query'. Then list {n} short attributes of the "
                "response, one per line, each a sentence starting with 'The response'. Output only the "
                "two lists.")
SUMMARISE = ("These attributes describe messages users sent to an AI assistant:\n{items}\n\nWrite one "
             "attribute that they share, as one sentence starting with 'The query'. Output only that "
             "sentence.")
BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)]|\(\d+\))\s*")
MAX_CHARS = 4000  # of a query or response shown to the auditor


def answer_tokens(per_row: int) -> int:
    """Room for 2 × per_row one-line attributes (~40 tokens each), and no more: a small auditor
    that rambles stops there."""
    return min(1000, 80 * per_row + 60)

Ask = Callable[[str], Awaitable[str]]
if TYPE_CHECKING:
    from app.core.llm.base import ChatClient
Embed = Callable[[list[str]], np.ndarray]
Progress = Callable[[int, int, str], Awaitable[None]]


def asker(client: ChatClient, max_tokens: int, seed: int = 0) -> Ask:
    """One user message at temperature 0: how every step of extraction, summary and trace asks."""

    async def ask(prompt: str) -> str:
        resp = await client.chat([{"role": "user", "content": prompt}], temperature=0.0,
                                  max_tokens=max_tokens, seed=seed)
        return resp.text

    return ask


def parse_attributes(text: str, limit: int, prefix: str | None = None) -> list[str]:
    """Lines that read as attributes (bullets and numbering removed), optionally only those that
    start with `prefix` ("The query" / "The response")."""
    out: list[str] = []
    for line in text.splitlines():
        item = BULLET.sub("", line).strip().strip('"').strip()
        if prefix is not None and not item.lower().startswith(prefix.lower()):
            continue
        if 8 <= len(item) <= 300 and item.lower() not in {x.lower() for x in out}:
            out.append(item)
    return out[:limit]


async def ask_once_more(ask: Ask, prompt: str, parse: Callable[[str], Any]) -> tuple[Any, int]:
    """(parsed answer, calls made): asked again once when the first answer parses to nothing."""
    got = parse(await ask(prompt))
    if got:
        return got, 1
    return parse(await ask(prompt)), 2


@dataclass
class RowAttributes:
    ordinal: int
    query: list[str]
    response: list[str]
    calls: int

    @property
    def ok(self) -> bool:
        return bool(self.query) and bool(self.response)


async def describe_row(ask: Ask, ordinal: int, prompt: str, response: str, per_row: int) -> RowAttributes:
    def parse(text: str) -> tuple[list[str], list[str]] | None:
        q = parse_attributes(text, per_row, "The query")
        r = parse_attributes(text, per_row, "The response")
        return (q, r) if q and r else None

    ask_for = DESCRIBE_ROW.format(query=prompt[:MAX_CHARS], response=response[:MAX_CHARS], n=per_row)
    got, calls = await ask_once_more(ask, ask_for, parse)
    q, r = got if got else ([], [])
    return RowAttributes(ordinal, q, r, calls)


async def describe_queries(ask: Ask, queries: list[str], per_query: int, progress: Progress,
                           concurrency: int = 8) -> tuple[list[list[str]], int]:
    """Query attributes only (a search's mined pool reads no responses): (per query, calls)."""
    sem = asyncio.Semaphore(concurrency)
    done = 0

    async def one(q: str) -> tuple[list[str], int]:
        nonlocal done
        async with sem:
            got, calls = await ask_once_more(ask, DESCRIBE_QUERY.format(query=q[:MAX_CHARS], n=per_query),
                                             lambda text: parse_attributes(text, per_query))
        done += 1
        await progress(done, len(queries), f"mining attributes: described {done}/{len(queries)} queries")
        return got or [], calls

    answers = await asyncio.gather(*(one(q) for q in queries))
    return [got for got, _ in answers], sum(calls for _, calls in answers)


@dataclass
class Clusters:
    centroids: np.ndarray  # (k, dim), unit vectors
    assign: np.ndarray  # cluster of each text
    summaries: list[str]  # one per cluster
    sizes: list[int]
    stats: dict[str, int] = field(default_factory=dict)


async def cluster_and_summarise(texts: list[str], vectors: np.ndarray, ask: Ask, k: int,
                                concurrency: int = 8) -> Clusters:
    """faiss k-means over the distinct attributes' embeddings (a text written for many rows is one
    point, not a weight that drags the centroids), every attribute then taking its text's
    cluster; each cluster summarised from its ten members nearest the centroid (its medoid when no
    usable summary comes back)."""
    position = {t: i for i, t in enumerate(dict.fromkeys(texts))}
    distinct = list(position)
    first = {t: i for i, t in reversed(list(enumerate(texts)))}
    points = vectors[[first[t] for t in distinct]]
    centroids, own = kmeans(points, k)
    assign = np.array([own[position[t]] for t in texts], dtype=np.int64)
    sem = asyncio.Semaphore(concurrency)
    stats = {"auditor_calls": 0, "failures": 0}

    async def summarise(c: int) -> str:
        members = [i for i in range(len(distinct)) if own[i] == c]
        if not members:
            return ""
        members.sort(key=lambda i: -float(points[i] @ centroids[c]))
        listed = "\n".join(f"- {distinct[i]}" for i in members[:10])
        async with sem:
            got, calls = await ask_once_more(ask, SUMMARISE.format(items=listed),
                                             lambda text: parse_attributes(text, 1))
        stats["auditor_calls"] += calls
        stats["failures"] += not got
        return str(got[0]) if got else distinct[members[0]]

    summaries = list(await asyncio.gather(*(summarise(c) for c in range(len(centroids)))))
    sizes = np.bincount(assign, minlength=len(centroids)).tolist()
    return Clusters(centroids, assign, summaries, sizes, stats)
