"""Task registry: a JobKind → async function(ctx) returning a JSON-able result. Each domain's
tasks live in app/<domain>/tasks.py and register when it is imported, so a worker that runs
one kind of job need not import the other domains."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from app.core.jobs import JobKind

if TYPE_CHECKING:
    from app.jobs.context import JobContext

TaskFn = Callable[["JobContext"], Coroutine[Any, Any, dict[str, Any] | None]]
TASKS: dict[str, TaskFn] = {}
# a kind's domain (JobKind.domain) → the module holding its task
MODULES = {"audit": "app.audits.tasks", "search": "app.searches.tasks", "dataset": "app.datasets.tasks",
           "trace": "app.datasets.tasks", "webhook": "app.webhooks.tasks", "organism": "app.organisms.tasks"}


def task(kind: JobKind) -> Callable[[TaskFn], TaskFn]:
    """Register the task of a job kind (the kind's value is what the jobs table stores)."""

    def register(fn: TaskFn) -> TaskFn:
        if kind in TASKS and TASKS[kind] is not fn:
            raise ValueError(f"task {kind.value!r} registered twice")
        if fn.__module__ != MODULES[kind.domain]:
            raise ValueError(f"task {kind.value!r} belongs in {MODULES[kind.domain]}")
        TASKS[kind] = fn
        return fn

    return register


def domains() -> list[str]:
    return sorted({k.domain for k in JobKind})


def load_builtin_tasks(*wanted: str) -> dict[str, TaskFn]:
    """The tasks of the `wanted` kind domains ("audit", "dataset", …; every one when none is named)."""
    chosen = wanted or tuple(domains())
    for domain in chosen:
        importlib.import_module(MODULES[domain])
    return {name: fn for name, fn in TASKS.items() if name.split(".", 1)[0] in chosen}
