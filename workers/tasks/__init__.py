"""Task registry: `<domain>.<verb>` → async function(ctx) returning a JSON-able result. A
domain's tasks live in workers/tasks/<domain>.py and register when it is imported."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workers.context import JobContext

TaskFn = Callable[["JobContext"], Coroutine[Any, Any, dict[str, Any] | None]]
TASKS: dict[str, TaskFn] = {}


def task(name: str) -> Callable[[TaskFn], TaskFn]:
    """Register a task under a stable name; the name is what the jobs table stores."""

    def register(fn: TaskFn) -> TaskFn:
        if name in TASKS and TASKS[name] is not fn:
            raise ValueError(f"task {name!r} registered twice")
        TASKS[name] = fn
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
