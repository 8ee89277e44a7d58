"""The analysis's read of an audit's samples, followed while they are stored, is always exactly
the full read: new rows, error rows overwritten in place, rows committed out of id order, and a
follower that let go."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from app.audits import sample_reader
from app.audits import use_cases as audits
from app.db.engine import make_engine, make_session_factory, transaction
from app.db.repositories import audits as repo
from app.db.tables import AuditResult
from app.db.types import utcnow
from app.services import targets
from app.services.owners import Principal
from tests.conftest import make_settings

SPEC = {"name": "r", "prompts": ["a", "b"], "features": {"format": {"builtin": "tag_format"}},
        "behaviours": {"emoji": {"builtin": "emoji"}}, "design": {"samples_per_prompt": 20}}


@pytest.fixture
def stored(db_url: str, tmp_path: Path) -> Iterator[tuple[sessionmaker[Session], str, str]]:
    settings = make_settings(tmp_path, db_url)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    with transaction(factory) as s:
        t = targets.create(s, settings, {"name": "t", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
                           "tester")
        audit = audits.create(s, settings, target_id=t.id, spec=SPEC, who=Principal("tester"))
    yield factory, db_url, audit.id
    sample_reader.read(db_url, audit.id)  # lets go of a follower a failed test left
    engine.dispose()


def row(i: int, error: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"cell_key": "format=plain", "prompt_index": i % 2, "sample_index": i, "seed": i,
            "messages": [{"role": "user", "content": f"q{i}"}], "response": None if error else f"r{i}",
            "scores": {} if error else {"emoji": {"elicited": i % 3 == 0}}, "error": error,
            "latency_ms": 1.0, "created_at": utcnow(), **extra}


def save(factory: sessionmaker[Session], audit_id: str, rows: list[dict[str, Any]]) -> None:
    with transaction(factory) as s:
        repo.save_results(s, audit_id, rows)


def full(factory: sessionmaker[Session], audit_id: str) -> list[Any]:
    with transaction(factory) as s:
        return sample_reader.load(s, audit_id)


def seen_up_to(url: str, audit_id: str, count: int) -> None:
    """Waits until the follower has read `count` rows (its thread polls)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        f = sample_reader._following.get((url, audit_id))
        if f is not None and len(f.rows) >= count:
            return
        time.sleep(0.02)
    raise AssertionError(f"the follower did not read {count} rows")


def test_followed_reads_equal_full_reads_as_rows_arrive_and_errors_are_overwritten(
        stored: tuple[sessionmaker[Session], str, str]) -> None:
    factory, url, audit_id = stored
    sample_reader.follow(url, audit_id)
    sample_reader.follow(url, audit_id)  # idempotent: one follower
    save(factory, audit_id, [row(i, error="timeout" if i in (2, 5) else None) for i in range(8)])
    seen_up_to(url, audit_id, 8)
    save(factory, audit_id, [row(i) for i in range(8, 12)] + [row(2), row(5)])  # 2 and 5 succeed now
    mid = sample_reader.read(url, audit_id, final=False)
    assert mid == full(factory, audit_id) and len(mid) == 12
    assert [s.error for s in mid].count(None) == 12
    assert (url, audit_id) in sample_reader._following  # between rounds it goes on following
    save(factory, audit_id, [row(i, error="http_503" if i == 13 else None) for i in range(12, 16)])
    last = sample_reader.read(url, audit_id)
    assert last == full(factory, audit_id) and len(last) == 16
    assert (url, audit_id) not in sample_reader._following


def test_a_row_committed_below_the_highest_id_read_is_not_missed(
        stored: tuple[sessionmaker[Session], str, str]) -> None:
    """Postgres hands out ids at insert and commits in any order: the count check catches it."""
    factory, url, audit_id = stored
    sample_reader.follow(url, audit_id)
    with transaction(factory) as s:
        s.add(AuditResult(id=100, audit_id=audit_id, **row(0)))
    seen_up_to(url, audit_id, 1)
    with transaction(factory) as s:
        s.add(AuditResult(id=50, audit_id=audit_id, **row(1)))
    got = sample_reader.read(url, audit_id)
    assert got == full(factory, audit_id) and [s.sample_index for s in got] == [1, 0]


def test_an_idle_follower_lets_go_and_the_read_is_whole(
        stored: tuple[sessionmaker[Session], str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    factory, url, audit_id = stored
    monkeypatch.setattr(sample_reader, "POLL_SECONDS", 0.02)
    monkeypatch.setattr(sample_reader, "IDLE_SECONDS", 0.1)
    save(factory, audit_id, [row(i) for i in range(3)])
    sample_reader.follow(url, audit_id)
    deadline = time.monotonic() + 20
    while (url, audit_id) in sample_reader._following and time.monotonic() < deadline:
        time.sleep(0.02)
    assert (url, audit_id) not in sample_reader._following
    save(factory, audit_id, [row(i) for i in range(3, 6)])
    assert sample_reader.read(url, audit_id) == full(factory, audit_id)
