"""The job runner against real SQLite and Postgres: retry, backoff, failure, cancel, leases."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from app.db.engine import make_engine, make_session_factory, transaction
from app.db.repositories import jobs as repo
from app.db.tables import Job
from app.db.types import utcnow
from app.errors import PermanentError
from app.jobs.context import JobContext
from app.jobs.runner import Worker
from app.services import jobs as jobs_service
from tests.conftest import make_settings

CALLS: dict[str, int] = {}


async def flaky(ctx: JobContext) -> dict[str, Any]:
    CALLS[ctx.job_id] = CALLS.get(ctx.job_id, 0) + 1
    if ctx.attempt < int(ctx.payload["succeed_on"]):
        raise RuntimeError(f"boom on attempt {ctx.attempt}")
    await ctx.progress(3, 3, "done")
    return {"attempt": ctx.attempt}


async def hopeless(ctx: JobContext) -> None:
    raise PermanentError("the spec is wrong")


async def sleepy(ctx: JobContext) -> None:
    for i in range(600):
        await ctx.progress(i, 600, "sleeping")
        await asyncio.sleep(0.05)


async def hog(ctx: JobContext) -> dict[str, Any]:
    CALLS[ctx.job_id] = CALLS.get(ctx.job_id, 0) + 1
    time.sleep(float(ctx.payload["seconds"]))  # blocks the event loop, as a pathological scorer would
    return {"ok": True}


WRITES: list[str] = []


async def robbed(ctx: JobContext) -> None:
    with transaction(ctx.session_factory) as s:  # another worker has taken the lease over
        s.execute(update(Job).where(Job.id == ctx.job_id).values(lease_owner="thief"))
    with transaction(ctx.session_factory) as s:
        ctx.guard(s)
        WRITES.append(ctx.job_id)


TASKS = {"test.flaky": flaky, "test.hopeless": hopeless, "test.sleepy": sleepy, "test.hog": hog,
         "test.robbed": robbed}


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_session_factory(engine)
    engine.dispose()


def enqueue(factory: sessionmaker[Session], kind: str, payload: dict[str, Any] | None = None,
            max_attempts: int = 3) -> str:
    with transaction(factory) as s:
        return repo.enqueue(s, kind, payload or {}, max_attempts=max_attempts).id


def job(factory: sessionmaker[Session], job_id: str) -> Any:
    with transaction(factory) as s:
        return repo.get(s, job_id)


async def run_until(worker: Worker, factory: sessionmaker[Session], job_id: str,
                    statuses: tuple[str, ...], timeout: float = 20) -> Any:
    task = asyncio.create_task(worker.run(grace_seconds=0.2))
    try:
        async with asyncio.timeout(timeout):
            while (j := await asyncio.to_thread(job, factory, job_id)).status not in statuses:
                await asyncio.sleep(0.05)
        return j
    finally:
        worker.stop()
        await task


def make_worker(tmp_path: Path, db_url: str, factory: sessionmaker[Session], **kw: Any) -> Worker:
    return Worker(make_settings(tmp_path, db_url, **kw), factory, tasks=TASKS)


def test_retry_with_backoff_then_success(tmp_path: Path, db_url: str, factory) -> None:
    jid = enqueue(factory, "test.flaky", {"succeed_on": 2})
    worker = make_worker(tmp_path, db_url, factory)
    j = asyncio.run(run_until(worker, factory, jid, ("succeeded", "failed")))
    assert j.status == "succeeded" and j.attempts == 2 and CALLS[jid] == 2
    assert j.result == {"attempt": 2} and j.error is None
    assert (j.progress_done, j.progress_total, j.progress_message) == (3, 3, "done")
    assert j.run_after > j.created_at  # the retry was scheduled later, not immediately


def test_permanent_failure_keeps_the_error(tmp_path: Path, db_url: str, factory) -> None:
    jid = enqueue(factory, "test.flaky", {"succeed_on": 99}, max_attempts=3)
    j = asyncio.run(run_until(make_worker(tmp_path, db_url, factory), factory, jid, ("failed",)))
    assert j.attempts == 3 and j.error == "RuntimeError: boom on attempt 3" and j.finished_at
    jid = enqueue(factory, "test.hopeless")
    j = asyncio.run(run_until(make_worker(tmp_path, db_url, factory), factory, jid, ("failed",)))
    assert j.attempts == 1 and "the spec is wrong" in j.error


def test_cancel_running_and_queued(tmp_path: Path, db_url: str, factory) -> None:
    queued = enqueue(factory, "test.sleepy")
    with transaction(factory) as s:
        jobs_service.cancel(s, queued)
    assert job(factory, queued).status == "cancelled"

    running = enqueue(factory, "test.sleepy")

    async def scenario() -> Any:
        worker = make_worker(tmp_path, db_url, factory, heartbeat_seconds=0.2)
        task = asyncio.create_task(worker.run())
        while (await asyncio.to_thread(job, factory, running)).progress_done < 3:
            await asyncio.sleep(0.05)
        with transaction(factory) as s:
            jobs_service.cancel(s, running)
        async with asyncio.timeout(10):
            while (j := await asyncio.to_thread(job, factory, running)).status != "cancelled":
                await asyncio.sleep(0.05)
        worker.stop()
        await task
        return j

    j = asyncio.run(scenario())
    assert j.status == "cancelled" and j.progress_done < 600
    assert job(factory, queued).attempts == 0  # never claimed


def test_expired_lease_is_reclaimed(tmp_path: Path, db_url: str, factory) -> None:
    jid = enqueue(factory, "test.flaky", {"succeed_on": 1})
    with transaction(factory) as s:
        ghost = repo.claim(s, "ghost-worker", lease_seconds=0.01, kinds=list(TASKS))
        assert ghost is not None and ghost.id == jid
    j = asyncio.run(run_until(make_worker(tmp_path, db_url, factory), factory, jid, ("succeeded",)))
    assert j.attempts == 2 and j.lease_owner is None


def test_lost_lease_on_last_attempt_fails(db_url: str, factory) -> None:
    jid = enqueue(factory, "test.flaky", {"succeed_on": 1}, max_attempts=1)
    with transaction(factory) as s:
        assert repo.claim(s, "ghost", 0.01, list(TASKS)) is not None
    with transaction(factory) as s:
        repo.reap_expired(s, utcnow() + timedelta(seconds=1))
    j = job(factory, jid)
    assert j.status == "failed" and "lost its lease" in j.error


def test_concurrent_claims_take_each_job_once(db_url: str, factory) -> None:
    ids = {enqueue(factory, "test.flaky", {"succeed_on": 1}) for _ in range(30)}
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while True:
            with transaction(factory) as s:
                j = repo.claim(s, name, 60, list(TASKS))
                if j is None:
                    return
                with lock:
                    claimed.append(j.id)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == sorted(ids)


def test_graceful_stop_releases_without_spending_an_attempt(tmp_path: Path, db_url: str,
                                                            factory) -> None:
    jid = enqueue(factory, "test.sleepy")

    async def scenario() -> None:
        worker = make_worker(tmp_path, db_url, factory)
        task = asyncio.create_task(worker.run(grace_seconds=0.1))
        while (await asyncio.to_thread(job, factory, jid)).status != "running":
            await asyncio.sleep(0.05)
        worker.stop()
        await task

    asyncio.run(scenario())
    j = job(factory, jid)
    assert j.status == "queued" and j.attempts == 0 and j.lease_owner is None


def test_blocked_event_loop_keeps_its_lease(tmp_path: Path, db_url: str, factory) -> None:
    """D2/D3: a task that blocks its event loop for 3 leases is not claimed by a second worker."""
    jid = enqueue(factory, "test.hog", {"seconds": 3.0}, max_attempts=3)
    fast = {"lease_seconds": 1.0, "heartbeat_seconds": 0.2}
    other = make_worker(tmp_path, db_url, factory, **fast)
    rival = threading.Thread(target=lambda: asyncio.run(run_until(other, factory, jid, ("succeeded",),
                                                                  timeout=30)))
    rival.start()
    j = asyncio.run(run_until(make_worker(tmp_path, db_url, factory, **fast), factory, jid,
                              ("succeeded", "failed"), timeout=30))
    rival.join()
    assert j.status == "succeeded" and j.attempts == 1 and CALLS[jid] == 1


def test_lost_lease_stops_the_attempt_before_it_writes(tmp_path: Path, db_url: str, factory) -> None:
    jid = enqueue(factory, "test.robbed")
    worker = make_worker(tmp_path, db_url, factory)

    async def scenario() -> None:
        task = asyncio.create_task(worker.run(grace_seconds=0.1))
        async with asyncio.timeout(10):
            while (await asyncio.to_thread(job, factory, jid)).lease_owner != "thief":
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        worker.stop()
        await task

    asyncio.run(scenario())
    j = job(factory, jid)
    assert jid not in WRITES  # the fence refused the write
    assert j.status == "running" and j.lease_owner == "thief"  # and the thief's attempt is untouched
