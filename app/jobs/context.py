"""What a running task may use: its payload, a session factory, progress and cancel state."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.db.engine import transaction
from app.db.repositories import jobs as jobs_repo


@dataclass
class JobContext:
    job_id: str
    kind: str
    payload: dict[str, Any]
    attempt: int
    worker_id: str
    settings: Settings
    session_factory: sessionmaker[Session]
    cancel_event: asyncio.Event = field(default_factory=asyncio.Event)
    # set when the worker is stopping: tasks finish what is in flight, store it, raise Halted
    halt: asyncio.Event = field(default_factory=asyncio.Event)
    lease_lost: bool = False

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def guard(self, session: Session) -> None:
        """Call inside the transaction that stores results: raises LeaseLost unless still ours."""
        jobs_repo.assert_lease(session, self.job_id, self.worker_id)

    async def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        def write() -> None:
            with transaction(self.session_factory) as s:
                jobs_repo.set_progress(s, self.job_id, self.worker_id, done, total, message)

        await asyncio.to_thread(write)
