"""Ingest progress is honest: while rows are being stored, `done` is the number of rows already
in the database, and a finished ingest says "done"."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.config import Settings
from app.core.turf import ingest as core_ingest
from app.datasets import tasks as dataset_tasks
from app.datasets import use_cases as datasets
from app.db.engine import transaction
from app.db.tables import DatasetRow
from app.embedded import ME


@pytest.mark.slow
def test_progress_counts_rows_as_they_are_stored(settings: Settings,
                                                 session_factory: sessionmaker[Session],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core_ingest, "PAGE", 100)  # several pages from a small file
    lines = [json.dumps({"prompt": f"Question {i}?", "response": f"Answer {i}.", "source": "a" if i % 2
                         else "b"}) for i in range(450)]
    upload = datasets.new_upload(settings)
    upload.feed("\n".join(lines).encode())
    upload.close()
    with transaction(session_factory) as s:
        ds_id = datasets.create(s, settings, "progress", upload, "reject", ME).id
    seen: list[tuple[int, int | None, str | None, int]] = []

    async def progress(done: int, total: int | None = None, message: str | None = None) -> None:
        with transaction(session_factory) as s:
            stored = s.scalar(select(func.count()).select_from(DatasetRow)
                              .where(DatasetRow.dataset_id == ds_id))
        seen.append((done, total, message, int(stored or 0)))

    asyncio.run(dataset_tasks.ingest(session_factory, settings, ds_id, progress))
    storing = [(d, n) for d, _, m, n in seen if m == "storing rows"]
    assert [d for d, _ in storing] == [0, 100, 200, 300, 400, 450]
    assert all(d == n for d, n in storing), storing  # reported only once stored
    assert all(t == 450 for _, t, _, _ in seen)
    assert seen[-1][:3] == (450, 450, "done")
