"""Task registry: `<domain>.<verb>` → async function(ctx) returning a JSON-able result."""

from __future__ import annotations

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


def load_builtin_tasks() -> dict[str, TaskFn]:
    from workers.tasks import audit, dataset, search, trace, webhook  # noqa: F401  (registers on import)

    return TASKS
