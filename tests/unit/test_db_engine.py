"""checkpoint(): the write-ahead log reaches the database file while a reader holds a snapshot
(as the analysis process does while it reads the samples), and Postgres has nothing to do."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from app.db.engine import checkpoint, make_engine, make_session_factory, transaction


def test_checkpoint_copies_the_log_into_the_file_without_waiting_for_a_reader(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    engine = make_engine(f"sqlite:///{path}")
    factory = make_session_factory(engine)
    try:
        with transaction(factory) as s:
            s.execute(text("CREATE TABLE t (x TEXT)"))
        with transaction(factory) as s:
            s.execute(text("INSERT INTO t VALUES (:x)"), [{"x": f"{i:04d}" * 250} for i in range(200)])
        reader = sqlite3.connect(path)
        reader.execute("BEGIN")
        assert reader.execute("SELECT count(*) FROM t").fetchone() == (200,)  # snapshot held
        before = path.stat().st_size
        started = time.monotonic()
        checkpoint(factory)
        assert time.monotonic() - started < 5  # the busy timeout is 30 s: it did not wait on the reader
        assert path.stat().st_size > before + 150 * 1000  # ~200 kB of rows now in the file itself
        reader.rollback()
        reader.close()
        copy = tmp_path / "file-only.db"  # the database file alone, without its log
        copy.write_bytes(path.read_bytes())
        assert sqlite3.connect(copy).execute("SELECT count(*) FROM t").fetchone() == (200,)
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_checkpoint_is_nothing_on_postgres(pg_server: str) -> None:
    engine = make_engine(pg_server)
    try:
        checkpoint(make_session_factory(engine))
    finally:
        engine.dispose()
