"""The job runner: claim, lease + heartbeat, retry with backoff, cancel, graceful stop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import random
import socket
import threading
import traceback
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.engine import transaction
from app.db.repositories import jobs as repo
from app.db.repositories.jobs import LeaseLost
from app.db.types import utcnow
from app.errors import Failure, Halted, RetryLater, Waiting, failure_of
from app.jobs.context import JobContext
from app.jobs.registry import TaskFn, load_builtin_tasks
from app.webhooks import events

log = logging.getLogger("surfturf.worker")


class Worker:
    """Runs up to `concurrency` jobs at once from the shared jobs table."""

    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        *,
        concurrency: int | None = None,
        worker_id: str | None = None,
        tasks: dict[str, TaskFn] | None = None,
        metrics: bool = True,
    ) -> None:
        """`metrics`: count finished jobs for Prometheus; the CLI's in-process worker, which
        serves no /metrics, skips them and the import of prometheus_client."""
        self.settings = settings
        self.session_factory = session_factory
        self.concurrency = concurrency or settings.worker_concurrency
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.tasks = tasks if tasks is not None else load_builtin_tasks()
        self.metrics = metrics
        self.stopping = asyncio.Event()
        self.job_ended = asyncio.Event()  # set as each job's attempt settles (whoever waits clears it)
        self._running: dict[str, asyncio.Task[None]] = {}

    async def run(self, grace_seconds: float = 10.0) -> None:
        """Claim and run jobs until stop() is called; then drain, and release what is left."""
        log.info("worker started", extra={"worker": self.worker_id, "concurrency": self.concurrency})
        while not self.stopping.is_set():
            self._alive()
            claimed = False
            if len(self._running) < self.concurrency:
                try:
                    job = await asyncio.to_thread(self._claim)
                except Exception as exc:  # database restarting or not migrated yet: keep polling
                    log.warning("claim failed; retrying", extra={"error": f"{type(exc).__name__}: {exc}"})
                    job = None
                if job is not None:
                    claimed = True
                    t = asyncio.create_task(self._execute(job))
                    self._running[job["id"]] = t
                    t.add_done_callback(functools.partial(self._forget, job["id"]))
            if not claimed:
                try:
                    await asyncio.wait_for(self.stopping.wait(), self.settings.worker_poll_seconds)
                except TimeoutError:
                    pass
        await self._drain(grace_seconds)
        log.info("worker stopped", extra={"worker": self.worker_id})

    def _alive(self) -> None:
        """Liveness for a healthcheck: the claim loop turned (a hung loop stops touching it)."""
        path = self.settings.worker_alive_file
        if path is not None:
            try:
                path.touch()
            except OSError as exc:
                log.warning("cannot touch the alive file", extra={"path": str(path), "error": str(exc)})

    def _count(self, kind: str, outcome: str) -> None:
        if self.metrics:
            from app.metrics import JOBS_FINISHED

            JOBS_FINISHED.labels(kind, outcome).inc()

    def _forget(self, job_id: str, _task: asyncio.Task[None]) -> None:
        self._running.pop(job_id, None)
        self.job_ended.set()

    def stop(self) -> None:
        self.stopping.set()

    async def _drain(self, grace_seconds: float) -> None:
        pending = list(self._running.values())
        if not pending:
            return
        _, still = await asyncio.wait(pending, timeout=grace_seconds)
        for t in still:
            t.cancel()
        if still:
            await asyncio.gather(*still, return_exceptions=True)

    def _claim(self) -> dict[str, Any] | None:
        with transaction(self.session_factory) as s:
            job = repo.claim(s, self.worker_id, self.settings.lease_seconds, list(self.tasks))
            if job is None:
                return None
            return {"id": job.id, "kind": job.kind, "payload": job.payload,
                    "attempts": job.attempts, "max_attempts": job.max_attempts}

    async def _execute(self, job: dict[str, Any]) -> None:
        ctx = JobContext(
            job_id=job["id"], kind=job["kind"], payload=job["payload"], attempt=job["attempts"],
            worker_id=self.worker_id, settings=self.settings, session_factory=self.session_factory,
            halt=self.stopping,
        )
        log.info("job claimed", extra={"job": ctx.job_id, "kind": ctx.kind, "attempt": ctx.attempt})
        work = asyncio.create_task(self.tasks[ctx.kind](ctx))
        keeper = LeaseKeeper(self, ctx, work, asyncio.get_running_loop())
        keeper.start()
        try:
            result = await work
        except asyncio.CancelledError:
            await self._settle_cancelled(ctx)
            return
        except LeaseLost:
            log.warning("lease lost; the attempt stopped before writing", extra={"job": ctx.job_id})
            return
        except Halted:
            await self._write(repo.release, ctx.job_id, self.worker_id)
            log.info("job halted and released on shutdown", extra={"job": ctx.job_id})
            return
        except Waiting as exc:  # on other jobs: back in the queue, this attempt not spent
            await self._write(repo.release, ctx.job_id, self.worker_id, exc.delay)
            return
        except RetryLater as exc:  # the task's own schedule (webhook deliveries)
            retry_at = utcnow() + timedelta(seconds=exc.delay)
            await self._write(repo.fail_or_retry, ctx.job_id, self.worker_id, str(exc), retry_at)
            self._count(ctx.kind, "retry")
            return
        except Exception as exc:
            await self._settle_failed(ctx, job["max_attempts"], exc)
            return
        finally:
            keeper.stop()
        await self._write(repo.succeed, ctx.job_id, self.worker_id, result)
        self._count(ctx.kind, "succeeded")
        log.info("job succeeded", extra={"job": ctx.job_id, "kind": ctx.kind})

    async def _settle_cancelled(self, ctx: JobContext) -> None:
        if ctx.cancelled:
            await self._write(repo.mark_cancelled, ctx.job_id, self.worker_id)
            self._count(ctx.kind, "cancelled")
            log.info("job cancelled", extra={"job": ctx.job_id})
        elif ctx.lease_lost:
            log.warning("lease lost; abandoned the attempt", extra={"job": ctx.job_id})
        elif self.stopping.is_set():
            await self._write(repo.release, ctx.job_id, self.worker_id)
            log.info("job released on shutdown", extra={"job": ctx.job_id})

    async def _settle_failed(self, ctx: JobContext, max_attempts: int, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"
        permanent = failure_of(exc) is Failure.permanent or ctx.attempt >= max_attempts
        retry_at = None if permanent else utcnow() + timedelta(seconds=self._backoff(ctx.attempt))

        def settle(s: Session) -> None:
            if repo.fail_or_retry(s, ctx.job_id, self.worker_id, error, retry_at) and permanent:
                events.job_failed(s, self.settings, ctx.kind, ctx.payload, error)  # same transaction

        await self._write(settle)
        self._count(ctx.kind, "failed" if permanent else "retry")
        log.warning("job failed", extra={"job": ctx.job_id, "kind": ctx.kind, "attempt": ctx.attempt,
                                         "error": error, "will_retry": not permanent,
                                         "trace": traceback.format_exception(exc)[-3:]})

    def _backoff(self, attempt: int) -> float:
        cap = min(self.settings.backoff_max_seconds,
                  self.settings.backoff_base_seconds * 2 ** (attempt - 1))
        return random.uniform(cap / 2, cap)

    def _beat(self, job_id: str) -> tuple[bool, bool]:
        with transaction(self.session_factory) as s:
            return repo.heartbeat(s, job_id, self.worker_id, self.settings.lease_seconds)

    async def _write(self, fn: Any, *args: Any) -> None:
        def run() -> None:
            with transaction(self.session_factory) as s:
                fn(s, *args)

        await asyncio.to_thread(run)


class LeaseKeeper(threading.Thread):
    """Renews one job's lease from its own thread, so CPU work on the event loop (a slow scorer,
    a huge spec) can never starve the heartbeat and let a second worker claim a live job."""

    def __init__(self, worker: Worker, ctx: JobContext, work: asyncio.Task[Any],
                 loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(name=f"lease-{ctx.job_id}", daemon=True)
        self.worker, self.ctx, self.work, self.loop = worker, ctx, work, loop
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.wait(self.worker.settings.heartbeat_seconds):
            try:
                ours, cancel = self.worker._beat(self.ctx.job_id)
            except Exception as exc:  # database blip: the lease has slack, try again next beat
                log.warning("heartbeat failed", extra={"job": self.ctx.job_id, "error": str(exc)})
                continue
            if cancel or not ours:
                with contextlib.suppress(RuntimeError):  # the loop closed as the job ended
                    self.loop.call_soon_threadsafe(self._interrupt, cancel)
                return

    def _interrupt(self, cancel: bool) -> None:
        if cancel:
            self.ctx.cancel_event.set()
        else:
            self.ctx.lease_lost = True
        self.work.cancel()
