"""`--engine ray`: a dataset's attributes as a Ray Data pipeline, for millions of rows.

Rows stream from the dataset store in blocks (`ray.data.read_sql`, the database surfturf already
uses); an actor pool describes them through surfturf's own auditor client (so its pinned egress,
retries and concurrency hold: Ray's HTTP processor would bypass them), one event loop per actor;
each described batch comes back to the driver, which appends it to the dataset's attribute log by
row id, so a run resumes as the local engine does. Embeddings run in an actor pool too. `RAY_ADDRESS`
targets a cluster; without it a local Ray starts with 2 CPUs."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from app.config import Settings
from app.core.turf.extraction import RowAttributes

SLICE = 1024  # rows handed back at a time: the auditor-call budget and progress are checked between


def start() -> Any:
    import ray

    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        kw: dict[str, Any] = {"address": address} if address else {"num_cpus": 2}
        ray.init(include_dashboard=False, log_to_driver=False, ignore_reinit_error=True, **kw)
        ray.data.DataContext.get_current().enable_progress_bars = False
    return ray


class Describer:
    """A Ray actor: surfturf's auditor client on an event loop of its own."""

    def __init__(self, url: str, model: str, api_key: str | None, timeout: float, per_row: int,
                 concurrency: int) -> None:
        from app.core.llm.openai_client import OpenAIChatClient
        from app.core.turf.extraction import answer_tokens, asker

        self.loop = asyncio.new_event_loop()
        client = OpenAIChatClient(url, model, api_key=api_key, timeout=timeout)
        self.ask = asker(client, answer_tokens(per_row))
        self.per_row, self.concurrency = per_row, concurrency

    async def _batch(self, rows: list[tuple[int, str, str]]) -> list[RowAttributes]:
        from app.core.turf.extraction import describe_row

        sem = asyncio.Semaphore(self.concurrency)

        async def one(o: int, p: str, r: str) -> RowAttributes:
            async with sem:
                return await describe_row(self.ask, o, p, r, self.per_row)

        return list(await asyncio.gather(*(one(*r) for r in rows)))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        import json

        rows = list(zip(batch["ordinal"].tolist(), batch["prompt"].tolist(), batch["response"].tolist(),
                        strict=True))
        got = self.loop.run_until_complete(self._batch(rows))
        return {"ordinal": np.array([g.ordinal for g in got], dtype=np.int64),
                "query": np.array([json.dumps(g.query) for g in got], dtype=object),
                "response": np.array([json.dumps(g.response) for g in got], dtype=object),
                "calls": np.array([g.calls for g in got], dtype=np.int64)}


class Embedder:
    """A Ray actor holding the project's embedder."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from app.core import embedder

        return {"i": batch["i"], "v": np.asarray(embedder.encode(batch["t"].tolist()), dtype=np.float32)}


def connection_factory(database_url: str) -> Callable[[], Any]:
    """A DB-API connection for Ray's SQL reader, from the same URL SQLAlchemy uses."""
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")

        def sqlite() -> Any:
            import sqlite3

            return sqlite3.connect(path)

        return sqlite
    url = database_url.replace("postgresql+psycopg://", "postgresql://")

    def postgres() -> Any:
        import psycopg

        return psycopg.connect(url)

    return postgres


def describe(settings: Settings, dataset_id: str, todo: list[int], per_row: int, concurrency: int,
             actors: int = 2) -> Iterator[list[RowAttributes]]:
    """Describe `todo` (row ordinals) in one streaming pipeline (its actors start once); yields
    the rows as they come back, SLICE at a time, so the caller logs them and checks its budget
    between slices (leaving the loop stops the pipeline)."""
    import json

    if not todo:
        return
    ray = start()
    factory = connection_factory(settings.resolved_database_url)
    kwargs = {"url": settings.auditor_url or "", "model": settings.auditor_model or "",
              "api_key": settings.auditor_api_key, "timeout": settings.target_timeout_seconds,
              "per_row": per_row, "concurrency": concurrency}
    # the dataset's own id (hex) and integer bounds: nothing of a user's reaches the SQL text
    sql = (f"SELECT ordinal, prompt, response FROM dataset_rows WHERE dataset_id = '{dataset_id}' "
           f"AND ordinal >= {int(min(todo))} AND ordinal <= {int(max(todo))}")
    wanted = np.asarray(sorted(todo), dtype=np.int64)

    def keep(batch: dict[str, np.ndarray], w: np.ndarray = wanted) -> dict[str, np.ndarray]:
        inside = np.isin(batch["ordinal"], w)
        return {k: v[inside] for k, v in batch.items()}

    out = (ray.data.read_sql(sql, factory).map_batches(keep, batch_format="numpy")
           .map_batches(Describer, fn_constructor_kwargs=kwargs, batch_size=32, concurrency=actors,
                        num_cpus=0.25))
    part: list[RowAttributes] = []
    for b in out.iter_batches(batch_size=64, batch_format="numpy"):
        part += [RowAttributes(int(o), json.loads(q), json.loads(r), int(c))
                 for o, q, r, c in zip(b["ordinal"], b["query"], b["response"], b["calls"], strict=True)]
        if len(part) >= SLICE:
            yield part
            part = []
    if part:
        yield part


def embed(texts: list[str]) -> np.ndarray:
    """The project's embedder over an actor pool, in the texts' order."""
    ray = start()
    ds = ray.data.from_items([{"i": i, "t": t} for i, t in enumerate(texts)])
    out = ds.map_batches(Embedder, batch_size=256, concurrency=1, num_cpus=1)
    parts = list(out.iter_batches(batch_size=None, batch_format="numpy"))
    order = np.concatenate([p["i"] for p in parts])
    vectors = np.concatenate([p["v"] for p in parts])
    return vectors[np.argsort(order)]
