"""Task registry: a JobKind → async function(ctx) returning a JSON-able result. A domain's tasks
live in workers/tasks/<domain>.py (the kind's domain) and register when it is imported."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from app.core.jobs import JobKind

if TYPE_CHECKING:
    from workers.context import JobContext

TaskFn = Callable[["JobContext"], Coroutine[Any, Any, dict[str, Any] | None]]
TASKS: dict[str, TaskFn] = {}


def task(kind: JobKind) -> Callable[[TaskFn], TaskFn]:
    """Register the task of a job kind (the kind's value is what the jobs table stores)."""

    def register(fn: TaskFn) -> TaskFn:
        if kind in TASKS and TASKS[kind] is not fn:
            raise ValueError(f"task {kind.value!r} registered twice")
        if kind.domain != fn.__module__.rsplit(".", 1)[-1]:
            raise ValueError(f"task {kind.value!r} belongs in workers/tasks/{kind.domain}.py")
        TASKS[kind] = fn
        return fn

    return register


def domains() -> list[str]:
    """Every module of this package is a domain: a new one is found without a list to edit."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load_builtin_tasks(*wanted: str) -> dict[str, TaskFn]:
    """The tasks of the `wanted` domains (every domain when none is named). A worker that runs
    one kind of job need not import the other domains' services: ~14 ms of an embedded audit's
    start-up."""
    chosen = wanted or tuple(domains())
    for domain in chosen:
        importlib.import_module(f"workers.tasks.{domain}")
    return {name: fn for name, fn in TASKS.items() if name.split(".", 1)[0] in chosen}
