"""Datasets: validate an upload as it streams, then ingest (rows, attributes, FAISS, clusters)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core.turf.attributes import attributes
from app.core.turf.rows import BadLine, Row, parse_lines
from app.db.engine import transaction
from app.db.repositories import datasets as repo
from app.db.repositories import jobs as jobs_repo
from app.db.tables import Dataset
from app.errors import Conflict, InvalidInput, PayloadTooLarge
from app.services.auditor import ProgressFn
from app.services.owners import Principal, visible

if TYPE_CHECKING:
    from app.core.turf.index import VectorIndex

MAX_REPORTED_ERRORS = 100


class UploadReceiver:
    """Feed bytes as they arrive; valid lines go to a file, bad lines are recorded by number.

    Each byte is looked at a bounded number of times whatever the line lengths (a 50 MB line
    costs what 50 MB of short lines cost), and a line over `max_line_bytes` is dropped as it
    streams, never held whole."""

    def __init__(self, settings: Settings) -> None:
        uploads = settings.data_dir / "uploads"
        uploads.mkdir(parents=True, exist_ok=True)
        self.path = uploads / f"{uuid.uuid4().hex}.jsonl"
        self.max_line = settings.max_line_bytes
        self.max_bytes = settings.max_upload_bytes
        self._fh = self.path.open("wb")
        self._parts: list[bytes] = []
        self._pending_len = 0
        self._overlong = False
        self.received = 0
        self.line = 0
        self.good = 0
        self.bad: list[dict[str, Any]] = []
        self.n_bad = 0

    def feed(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.max_bytes:
            raise PayloadTooLarge(f"upload exceeds {self.max_bytes} bytes (SURFTURF_MAX_UPLOAD_BYTES)",
                                  field="body")
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            piece = chunk[start:] if nl < 0 else chunk[start:nl]
            self._append(piece)
            if nl < 0:
                return
            self._end_line()
            start = nl + 1

    def _append(self, piece: bytes) -> None:
        if self._overlong or not piece:
            return
        self._pending_len += len(piece)
        if self._pending_len > self.max_line:
            self._overlong, self._parts = True, []
        else:
            self._parts.append(piece)

    def _end_line(self) -> None:
        self.line += 1
        if self._overlong:
            self._record_bad(self.line, f"line longer than {self.max_line} bytes (SURFTURF_MAX_LINE_BYTES)")
        else:
            self._take(b"".join(self._parts))
        self._parts, self._pending_len, self._overlong = [], 0, False

    def close(self) -> None:
        if self._parts or self._overlong:
            self._end_line()
        self._fh.close()

    def _record_bad(self, line: int, error: str) -> None:
        self.n_bad += 1
        if len(self.bad) < MAX_REPORTED_ERRORS:
            self.bad.append({"line": line, "error": error})

    def _take(self, raw: bytes) -> None:
        for item in parse_lines([raw], start=self.line):
            if isinstance(item, BadLine):
                self._record_bad(item.line, item.error)
            else:
                self.good += 1
                text = raw.decode("utf-8")  # parse_lines accepted it, so it is valid UTF-8
                self._fh.write(json.dumps({"line": self.line, "raw": text}).encode() + b"\n")

    def discard(self) -> None:
        self._fh.close()
        self.path.unlink(missing_ok=True)


async def receive(settings: Settings, chunks: AsyncIterator[bytes]) -> UploadReceiver:
    """Parse a streamed upload off the event loop, in ~1 MB slices; a failure leaves no file."""
    upload = UploadReceiver(settings)
    try:
        buf: list[bytes] = []
        size = 0
        async for chunk in chunks:
            buf.append(chunk)
            size += len(chunk)
            if size >= 1 << 20:
                await asyncio.to_thread(upload.feed, b"".join(buf))
                buf, size = [], 0
        if buf:
            await asyncio.to_thread(upload.feed, b"".join(buf))
        upload.close()
    except BaseException:
        upload.discard()
        raise
    return upload


def create(session: Session, settings: Settings, name: str, upload: UploadReceiver,
           on_error: str, who: Principal) -> Dataset:
    """Reject policy refuses the whole upload on any bad line; nothing stored, nothing changed."""
    if repo.by_name(session, name, who.owner) is not None:
        upload.discard()
        raise Conflict(f"dataset {name!r} exists; choose another name", field="name")
    if upload.n_bad and on_error == "reject":
        upload.discard()
        first = upload.bad[0]
        raise InvalidInput(f"line {first['line']}: {first['error']} ({upload.n_bad} bad lines; "
                           "use on_error=skip to keep the good ones)", field=f"body.line.{first['line']}")
    if upload.good == 0:
        upload.discard()
        raise InvalidInput("the upload has no valid rows", field="body")
    ds = repo.add(session, name=name, owner=who.owner, upload_path=str(upload.path), status="queued",
                  skipped=upload.bad, meta={"lines": upload.line, "bad_lines": upload.n_bad})
    job = jobs_repo.enqueue(session, "dataset.ingest", {"dataset_id": ds.id}, owner=who.owner,
                            max_attempts=settings.job_max_attempts)
    ds.job_id = job.id
    return ds


def get(session: Session, ref: str, who: Principal | None = None) -> Dataset:
    row = repo.get(session, ref)
    if row is None and who is not None:
        row = repo.by_name(session, ref, who.owner)
    return visible(row, who, "dataset", ref)


def list_datasets(session: Session, who: Principal, *, limit: int, offset: int) -> list[Dataset]:
    return repo.list_datasets(session, owner=who.scope, limit=limit, offset=offset)


def dataset_dir(settings: Settings, dataset_id: str) -> Path:
    return settings.data_dir / "datasets" / dataset_id


async def ingest(factory: sessionmaker[Session], settings: Settings, dataset_id: str,
                 progress: ProgressFn, batch: int = 256) -> dict[str, Any]:
    """Rows → attributes → embeddings → FAISS (prompts, responses) → k-means prompt clusters.
    Streams in batches, so memory stays bounded by the batch and the index itself."""
    import numpy as np

    from app.core import embedder
    from app.core.turf.index import VectorIndex

    started = time.perf_counter()
    with transaction(factory) as s:
        ds = get(s, dataset_id)
        path, total = Path(ds.upload_path), int(ds.meta.get("lines", 0)) - int(ds.meta.get("bad_lines", 0))

    def store_rows() -> int:
        ordinal, pending = 0, []
        with path.open("rb") as fh:
            for raw in fh:
                rec = json.loads(raw)
                row = next(iter(parse_lines([rec["raw"]], start=rec["line"])))
                if not isinstance(row, Row):
                    continue
                pending.append({"ordinal": ordinal, "line": rec["line"], "ext_id": row.ext_id,
                                "source": row.source, "system": row.system, "prompt": row.prompt,
                                "response": row.response, "attributes": attributes(row)})
                ordinal += 1
                if len(pending) >= 2000:
                    with transaction(factory) as s:
                        repo.insert_rows(s, dataset_id, pending)
                    pending = []
        with transaction(factory) as s:
            repo.insert_rows(s, dataset_id, pending)
        return ordinal

    await progress(0, total, "storing rows")
    n = await asyncio.to_thread(store_rows)
    out = dataset_dir(settings, dataset_id)
    prompts = VectorIndex.create(384, n)
    responses = VectorIndex.create(384, n)
    for lo in range(0, n, batch):
        with transaction(factory) as s:
            part = repo.rows_in_range(s, dataset_id, lo, lo + batch, ("ordinal", "prompt", "response"))
        ids = np.array([r.ordinal for r in part], dtype="int64")
        pv = await asyncio.to_thread(embedder.encode, [r.prompt for r in part])
        rv = await asyncio.to_thread(embedder.encode, [r.response for r in part])
        prompts.add(pv, ids)
        responses.add(rv, ids)
        await progress(lo + len(part), n, "embedding")
    prompts.save(out / "prompts.faiss")
    responses.save(out / "responses.faiss")
    await progress(n, n, "clustering prompts")
    meta = await asyncio.to_thread(_cluster, factory, dataset_id, prompts, out, n)
    meta.update(index_type=prompts.kind, rows=n,
                seconds=round(time.perf_counter() - started, 2))
    with transaction(factory) as s:
        ds = get(s, dataset_id)
        ds.n_rows, ds.status = n, "ready"
        ds.meta = {**ds.meta, **meta}
    return {"dataset_id": dataset_id, "rows": n, "skipped": len(ds.skipped or [])}


def _cluster(factory: sessionmaker[Session], dataset_id: str, index: VectorIndex, out: Path,
             n: int) -> dict[str, Any]:
    import numpy as np

    from app.core.turf.index import VectorIndex, cluster_count, kmeans
    from app.core.turf.labels import ClusterTerms

    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n, size=min(n, 50_000), replace=False))
    centroids, _ = kmeans(index.vectors(sample), cluster_count(n))
    np.save(out / "centroids.npy", centroids)
    cindex = VectorIndex.create(centroids.shape[1], len(centroids))
    cindex.add(centroids, np.arange(len(centroids), dtype="int64"))
    names = ClusterTerms()
    for lo in range(0, n, 2000):
        with transaction(factory) as s:
            part = repo.rows_in_range(s, dataset_id, lo, lo + 2000, ("id", "ordinal", "prompt"))
        _, nearest = cindex.search(index.vectors(np.array([r.ordinal for r in part])), 1)
        pairs = [(r.id, int(c)) for r, c in zip(part, nearest[:, 0], strict=True)]
        with transaction(factory) as s:
            repo.set_clusters(s, pairs)
        for r, (_, c) in zip(part, pairs, strict=True):
            names.add(r.prompt, c)
    labels = names.labels()
    return {"clusters": {str(k): v for k, v in sorted(labels.items())}, "n_clusters": len(centroids)}
