"""Statistics in a process of their own, started when sampling starts.

Importing scipy and statsmodels costs ~1.2 s of CPU (2 cores, measured). In a thread of the
sampling process that import held the GIL the event loop needed: the audit sampled ~1 s slower
(2304 requests, 20 ms target). In a child process it runs on whatever core the target leaves
idle, and the analysis that follows runs there too, off the worker's event loop. A process that
cannot start, or dies, costs nothing but the old path: the analysis runs here."""

from __future__ import annotations

import atexit
import contextlib
import gc
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

log = logging.getLogger(__name__)
R = TypeVar("R")  # a request of app.audits.analysis_calls
T = TypeVar("T")

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None
_child: Future[Any] | None = None  # the child's pid, once it has started


def _start() -> None:
    """In the child. Ctrl-C at a terminal reaches the whole process group, and the parent, which
    handles it (stores what is in flight, says how to resume), also ends this process. Niced: a
    worker's sampling (its event loop, a local target) comes first; an analysis runs when
    sampling has ended, on an otherwise idle core."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):  # below sampling: its imports take idle CPU
        os.nice(10)
    threading.Thread(target=_exit_with, args=(os.getppid(),), name="surfturf-orphan-watch",
                     daemon=True).start()
    idle = _policy(getattr(os, "SCHED_IDLE", None))
    import statsmodels.regression.linear_model  # noqa: F401  (interactions import it late)

    from app.audits.analysis_calls import warm_up

    warm_up()
    gc.collect()
    gc.freeze()  # the analysis's collections need not walk scipy's and statsmodels' own objects
    if idle:
        _policy(getattr(os, "SCHED_OTHER", None))


def _policy(policy: int | None) -> bool:
    """Linux's scheduling policy for this process; False where it cannot be set. The imports run
    under SCHED_IDLE: only on CPU nothing else wants, and off it the moment the sampling loop
    or a local target wakes (niced alone, they still cost a 2k-request audit ~0.4 s)."""
    if policy is None:
        return False
    try:
        os.sched_setscheduler(0, policy, os.sched_param(0))
    except (OSError, AttributeError):
        return False
    return True


def _exit_with(parent: int) -> None:
    """A parent killed outright (SIGKILL, OOM) runs no shutdown, and the executor's queues give
    this process no EOF (it holds both ends): it would wait for work forever."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def warm(enabled: bool = True) -> None:
    """Start the process now (a fresh interpreter: `spawn`, never a fork of a threaded worker), so
    its imports overlap sampling. Idempotent and cheap once running. `enabled` is the operator's
    SURFTURF_ANALYSIS_PROCESS: false keeps every analysis in the worker's own process."""
    global _pool, _child
    if not enabled:
        return
    with _lock:
        if _pool is not None:
            return
        try:
            _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_start)
            _child = _pool.submit(os.getpid)  # a first task starts the process
        except (OSError, RuntimeError) as exc:  # no processes allowed here: analyse in-process
            log.warning("analysis process unavailable, analysing in-process: %s", exc)
            _pool = None


def _call_in_child(fn: Callable[[R], T], request: R) -> T:
    """With the collector paused: an analysis builds several objects per sample that all live
    until it returns, and collections walking them again and again cost ~10% of it (measured,
    9216 samples). Whatever it leaves is collected once the child is collecting again."""
    gc.disable()
    try:
        return fn(request)
    finally:
        gc.enable()


def run(fn: Callable[[R], T], request: R, *, enabled: bool = True,
        meanwhile: Callable[[], object] | None = None) -> T:
    """fn(request) in the analysis process (started here if sampling did not), else here. `fn` is
    a module-level function of app.audits.analysis_calls, `request` its typed request (both
    pickle: by reference, and as plain data). `meanwhile`: this process's own work, done while
    the child computes (before, without one)."""
    warm(enabled)
    pool = _pool if enabled else None
    future: Future[T] | None = None
    if pool is not None:
        try:
            future = pool.submit(_call_in_child, fn, request)
        except BrokenProcessPool as exc:
            _died(pool, exc)
    if meanwhile is not None:
        meanwhile()
    if future is not None and pool is not None:
        try:
            return future.result()
        except BrokenProcessPool as exc:
            _died(pool, exc)
    return fn(request)


def start(fn: Callable[[R], None], request: R, *, enabled: bool = True) -> None:
    """fn(request) in the analysis process, not waited for: work that only makes a later call
    there faster, so without a child nothing is done. A failure is logged."""
    warm(enabled)
    pool = _pool if enabled else None
    if pool is None:
        return
    with contextlib.suppress(BrokenProcessPool):  # the next run() replaces the process
        pool.submit(fn, request).add_done_callback(_log_failure)


def _log_failure(future: Future[Any]) -> None:
    exc = future.exception()
    if exc is not None and not isinstance(exc, BrokenProcessPool):
        log.warning("background call in the analysis process failed: %r", exc)


def _died(pool: ProcessPoolExecutor, exc: BaseException) -> None:
    log.warning("analysis process died (%s); analysing in-process", exc)
    _discard(pool)


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool, _child
    with _lock:
        if _pool is pool:
            _pool, _child = None, None
    pool.shutdown(wait=False, cancel_futures=True)


@atexit.register
def shutdown(wait: bool = True) -> None:
    """Stop the process. An idle child is sent SIGTERM (it holds nothing to save, and a normal
    exit would spend ~0.3 s freeing scipy's modules), then joined: multiprocessing's own exit
    hook, which runs after this one, joins every child, and one never told to stop would hang
    the exit. A parent killed outright is watched for in the child.

    `wait=False` does not wait for the child to be gone: the kernel frees its memory (~15 ms)
    while this process finishes its own work, and the exit hook's join then finds it gone."""
    global _pool, _child
    with _lock:
        pool, child, _pool, _child = _pool, _child, None, None
    if pool is None:
        return
    if child is not None and child.done() and child.exception() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.result(), signal.SIGTERM)
    pool.shutdown(wait=wait, cancel_futures=True)
