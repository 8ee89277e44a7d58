"""Dataset use cases: receive an upload (app/core/turf/upload.py) and queue its ingest (rows,
embeddings, FAISS indexes, prompt clusters, group codes: tasks.py), read, list, delete."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core.jobs import JobKind
from app.core.surf.spec import check_name
from app.core.turf.upload import UploadReceiver
from app.db.engine import transaction
from app.db.repositories import datasets as repo
from app.db.repositories import jobs as jobs_repo
from app.db.tables import Dataset
from app.errors import Conflict, InvalidInput, Unavailable
from app.services.owners import Principal, visible

T = TypeVar("T")


def new_upload(settings: Settings) -> UploadReceiver:
    return UploadReceiver(settings.data_dir / "uploads", max_line_bytes=settings.max_line_bytes,
                          max_upload_bytes=settings.max_upload_bytes)


async def receive(settings: Settings, chunks: AsyncIterator[bytes]) -> UploadReceiver:
    """Parse a streamed upload off the event loop, in ~1 MB slices; a failure leaves no file.
    Every file operation (open, write, close, unlink) runs in a thread too."""
    upload = await asyncio.to_thread(new_upload, settings)
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
        await asyncio.to_thread(upload.close)
    except BaseException:
        await asyncio.shield(asyncio.to_thread(upload.discard))
        raise
    return upload


def store_upload(factory: sessionmaker[Session], settings: Settings, name: str, upload: UploadReceiver,
                 on_error: str, who: Principal, read: Callable[[Dataset, Any], T]) -> T:
    """`create` in a transaction of its own; a same-name upload that commits first makes this one a
    409 (the unique constraint decides), and a failed upload leaves no file behind."""
    from sqlalchemy.exc import IntegrityError

    try:
        with transaction(factory) as s:
            ds = create(s, settings, name, upload, on_error, who)
            out = read(ds, jobs_repo.get(s, ds.job_id or ""))
    except IntegrityError:
        upload.discard()
        raise Conflict(f"dataset {name!r} exists; choose another name", field="name") from None
    except BaseException:
        upload.discard()
        raise
    return out


def sweep_uploads(session: Session, settings: Settings, older_than: float = 3600.0) -> int:
    """Upload files no dataset refers to, left by a process killed mid-upload; only those idle
    for `older_than` seconds, since another process may be receiving one right now."""
    import time

    folder = settings.data_dir / "uploads"
    if not folder.is_dir():
        return 0
    kept = set(repo.upload_paths(session))
    gone = 0
    for path in folder.iterdir():
        try:
            idle = time.time() - path.stat().st_mtime
        except FileNotFoundError:
            continue
        if str(path) not in kept and idle > older_than:
            path.unlink(missing_ok=True)
            gone += 1
    return gone


def require_embedder() -> None:
    """An ingest that cannot embed fails before it stores a row."""
    from app.core import embedder

    problem = embedder.missing()
    if problem:
        raise Unavailable(problem)


def create(session: Session, settings: Settings, name: str, upload: UploadReceiver,
           on_error: str, who: Principal) -> Dataset:
    """Reject policy refuses the whole upload on any bad line; nothing stored, nothing changed.
    A dataset whose ingest ended unfinished gives its name up to the new one. Callers check the
    embedder (`require_embedder`) before they receive the upload."""
    try:
        try:
            check_name("dataset name", name)
        except ValueError as exc:
            raise InvalidInput(str(exc), field="name") from None
        existing = repo.by_name(session, name, who.owner)
        if existing is not None:
            job = jobs_repo.get(session, existing.job_id or "")
            if existing.status == "ready" or (job is not None and job.status not in jobs_repo.RESUMABLE):
                raise Conflict(f"dataset {name!r} exists; choose another name, or delete it first "
                               "(surfturf datasets delete / DELETE /v1/datasets/{id})", field="name")
            _remove(session, settings, existing)
    except BaseException:
        upload.discard()
        raise
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
    job = jobs_repo.enqueue(session, JobKind.dataset_ingest, {"dataset_id": ds.id}, owner=who.owner,
                            max_attempts=settings.job_max_attempts)
    ds.job_id = job.id
    return ds


def delete(session: Session, settings: Settings, ref: str, who: Principal) -> None:
    """A dataset, its rows, traces, index and files; not while its ingest is queued or running."""
    ds = get(session, ref, who)
    job = jobs_repo.get(session, ds.job_id or "")
    if job is not None and job.status in jobs_repo.ACTIVE:
        raise Conflict(f"dataset {ds.name!r} is being ingested ({job.status}); cancel job {job.id} first")
    _remove(session, settings, ds)


def _remove(session: Session, settings: Settings, ds: Dataset) -> None:
    """The row goes with the caller's transaction, the files at once: should that transaction
    then fail, the row stays with its files gone, and deleting it again finishes the job."""
    import shutil

    files = [dataset_dir(settings, ds.id), Path(ds.upload_path)]
    repo.delete(session, ds)
    for path in files:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def get(session: Session, ref: str, who: Principal | None = None) -> Dataset:
    row = repo.get(session, ref)
    if row is None and who is not None:
        row = repo.by_name(session, ref, who.owner)
    return visible(row, who, "dataset", ref)


def list_datasets(session: Session, who: Principal, *, limit: int, offset: int) -> list[Dataset]:
    return repo.list_datasets(session, owner=who.scope, limit=limit, offset=offset)


def dataset_dir(settings: Settings, dataset_id: str) -> Path:
    return settings.data_dir / "datasets" / dataset_id
