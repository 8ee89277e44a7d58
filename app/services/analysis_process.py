"""Statistics in a process of their own, started when sampling starts.

Importing scipy and statsmodels costs ~1.2 s of CPU (2 cores, measured). In a thread of the
sampling process that import held the GIL the event loop needed: the audit sampled ~1 s slower
(2304 requests, 20 ms target). In a child process it runs on whatever core the target leaves
idle, and the analysis that follows runs there too, off the worker's event loop. A process that
cannot start, or dies, costs nothing but the old path: the analysis runs here."""

from __future__ import annotations

import atexit
import importlib
import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

log = logging.getLogger(__name__)

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def _import_statistics() -> None:
    import statsmodels.regression.linear_model  # noqa: F401  (interactions import it late)

    import app.core.surf.analysis  # noqa: F401
    import app.services.audits  # noqa: F401  (reads the samples it analyses)


def warm(enabled: bool = True) -> None:
    """Start the process now (a fresh interpreter: `spawn`, never a fork of a threaded worker), so
    its imports overlap sampling. Idempotent and cheap once running. `enabled` is the operator's
    SURFTURF_ANALYSIS_PROCESS: false keeps every analysis in the worker's own process."""
    global _pool
    if not enabled:
        return
    with _lock:
        if _pool is not None:
            return
        try:
            _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_import_statistics)
            _pool.submit(_call, "builtins:int", ())  # a first task starts the process
        except (OSError, RuntimeError) as exc:  # no processes allowed here: analyse in-process
            log.warning("analysis process unavailable, analysing in-process: %s", exc)
            _pool = None


def _call(where: str, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None) -> Any:
    """Named, not passed: the caller need not import the statistics to name their function."""
    module, name = where.split(":")
    return getattr(importlib.import_module(module), name)(*args, **(kwargs or {}))


def run(where: str, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None, *,
        enabled: bool = True) -> Any:
    """`module:function`(*args, **kwargs) in the analysis process (started here if sampling did
    not), else here. Arguments and result must pickle (plain data, dataclasses, pydantic models)."""
    warm(enabled)
    pool = _pool if enabled else None
    if pool is not None:
        try:
            return pool.submit(_call, where, args, kwargs).result()
        except BrokenProcessPool as exc:
            log.warning("analysis process died (%s); analysing in-process", exc)
            _discard(pool)
    return _call(where, args, kwargs)


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


@atexit.register
def shutdown() -> None:
    """Stop the process with ours: a one-shot CLI command leaves through os._exit after atexit,
    which the executor's own exit hook would miss, and the child would outlive us."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
