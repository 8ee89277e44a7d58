"""Statistics in a process of their own, started when sampling starts.

Importing scipy and statsmodels takes over a second of CPU; in a thread of the sampling process
it held the GIL the event loop needed. In a child process it runs on whatever core the target
leaves idle, and the analysis that follows runs there too, off the worker's event loop (what
that buys: bench/README.md). A process that cannot start, or dies, costs nothing but the old
path: the analysis runs here."""

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


def run(fn: Callable[[R], T], request: R, *, enabled: bool = True) -> T:
    """fn(request) in the analysis process (started here if sampling did not), else here. `fn` is
    a module-level function of app.audits.analysis_calls, `request` its typed request (both
    pickle: by reference, and as plain data)."""
    warm(enabled)
    pool = _pool if enabled else None
    if pool is not None:
        try:
            return pool.submit(fn, request).result()
        except BrokenProcessPool as exc:
            _died(pool, exc)
    return fn(request)


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
def shutdown() -> None:
    """Stop the process. An idle child is sent SIGTERM (it holds nothing to save), then joined:
    multiprocessing's own exit hook, which runs after this one, joins every child, and one never
    told to stop would hang the exit. A parent killed outright is watched for in the child."""
    global _pool, _child
    with _lock:
        pool, child, _pool, _child = _pool, _child, None, None
    if pool is None:
        return
    if child is not None and child.done() and child.exception() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child.result(), signal.SIGTERM)
    pool.shutdown(wait=True, cancel_futures=True)
