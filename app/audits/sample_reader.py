"""An audit's stored samples as the analysis reads them, followed while the audit still samples.

Reading 2304 samples took ~38 ms once sampling had ended, on the audit's critical path
(measured). A follower in the analysis process reads each batch as it is stored, on a core the
sampling leaves idle, so the analysis reads only the last one. Stored rows are only ever added,
except that a row holding a target error may be overwritten in place by a later success
(repositories/audits.save_results): the last read takes the new rows plus the error rows again,
and a full read replaces it whenever the row count disagrees (Postgres ids committed out of
order, say), so a follower can make a read faster but never different.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.orm import Session

from app.core.surf.samples import Sample
from app.core.surf.spec import parse_cell_key
from app.db.engine import make_engine, make_session_factory, transaction
from app.db.repositories import audits as repo

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
IDLE_SECONDS = 300.0  # a follower that sees no new row for this long (a halted audit) lets go
MAX_REREAD = 1000  # error rows read again by id at the end; beyond this, one full read is simpler


def to_sample(r: Row[Any]) -> Sample:
    return Sample(parse_cell_key(r.cell_key), r.prompt_index, r.sample_index, r.messages, r.response,
                  r.scores, r.error)


def load(session: Session, audit_id: str) -> list[Sample]:
    return [to_sample(r) for r in repo.iter_results(session, audit_id)]


class _Follower:
    """Samples by row id, brought up to date every POLL_SECONDS by a daemon thread."""

    def __init__(self, url: str, audit_id: str) -> None:
        self.url, self.audit_id = url, audit_id
        self.engine = make_engine(url)
        self.factory = make_session_factory(self.engine)
        self.rows: dict[int, Sample] = {}
        self.last = 0  # the highest row id read
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, name="surfturf-follow", daemon=True)

    def _catch_up(self, s: Session, again: Sequence[int] = ()) -> int:
        rows = repo.results_after(s, self.audit_id, self.last, again=again)
        for r in rows:
            self.rows[r.id] = to_sample(r)
        self.last = max(self.last, max((r.id for r in rows), default=0))
        return len(rows)

    def _loop(self) -> None:
        idle = 0.0
        while not self.stop.wait(POLL_SECONDS):
            try:
                with self.lock, transaction(self.factory) as s:
                    idle = 0.0 if self._catch_up(s) else idle + POLL_SECONDS
            except Exception:  # the last read falls back to a full one
                log.warning("following audit %s failed; its analysis reads every sample",
                            self.audit_id, exc_info=True)
                idle = IDLE_SECONDS
            if idle >= IDLE_SECONDS:
                _let_go(self)
                return

    def read(self) -> list[Sample]:
        """Every stored sample in row order: new rows and error rows read again, and the count
        checked against the database's, in one transaction."""
        with self.lock, transaction(self.factory) as s:
            errors = [i for i, smp in self.rows.items() if smp.error is not None]
            whole = len(errors) <= MAX_REREAD
            if whole:
                self._catch_up(s, again=errors)
                whole = len(self.rows) == repo.count_results(s, self.audit_id, answered_only=False)
            if not whole:
                self.rows.clear()
                self.last = 0
                self._catch_up(s)
            return [self.rows[i] for i in sorted(self.rows)]

    def close(self) -> None:
        self.stop.set()
        if self.thread is not threading.current_thread():
            self.thread.join()
        with self.lock:
            self.engine.dispose()


_lock = threading.Lock()
_following: dict[tuple[str, str], _Follower] = {}


def _let_go(f: _Follower) -> None:
    with _lock:
        if _following.get((f.url, f.audit_id)) is f:
            del _following[(f.url, f.audit_id)]
    f.close()


def follow(url: str, audit_id: str) -> None:
    """Start reading this audit's samples as they are stored (in the analysis process, while its
    worker samples). Idempotent."""
    with _lock:
        if (url, audit_id) in _following:
            return
        f = _following[(url, audit_id)] = _Follower(url, audit_id)
    f.thread.start()


def read(url: str, audit_id: str, *, final: bool = True) -> list[Sample]:
    """The audit's stored samples, in the order they were stored. `final`: the audit samples no
    more (its analysis), so a follower is done; otherwise (a sequential audit's look between
    rounds) it goes on following."""
    with _lock:
        f = _following.pop((url, audit_id), None) if final else _following.get((url, audit_id))
    if f is not None:
        try:
            return f.read()
        finally:
            if final:
                f.close()
    engine = make_engine(url)
    try:
        with transaction(make_session_factory(engine)) as s:
            return load(s, audit_id)
    finally:
        engine.dispose()
