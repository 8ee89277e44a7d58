"""A worker SIGKILLed mid-search: another worker resumes it, plans the same candidates, skips
every stored one (no target call repeated but those in flight at the kill) and finishes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.db.engine import make_engine, make_session_factory, transaction
from app.db.repositories import jobs as jobs_repo
from app.db.tables import SearchCandidate
from app.organism_server import create_organism_app
from app.searches import use_cases as searches
from app.serving import serve_in_thread
from tests.conftest import make_settings
from tests.search.planted import PLANTED, search_spec, start


def worker(db_url: str, data: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SURFTURF_DATABASE_URL": db_url, "SURFTURF_DATA_DIR": str(data),
           "SURFTURF_LEASE_SECONDS": "2", "SURFTURF_HEARTBEAT_SECONDS": "0.3",
           "SURFTURF_WORKER_POLL_SECONDS": "0.1", "SURFTURF_LOG_LEVEL": "WARNING",
           "SURFTURF_TARGET_EGRESS": "public,loopback"}
    return subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--concurrency", "1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_sigkill_mid_search_resumes_without_repeating_stored_candidates(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    organism = create_organism_app(PLANTED, latency_ms=100)
    spec = search_spec(concurrency=4, confirm={"top_k": 0})  # 6 × 24 = 144 candidates

    def stored() -> list[Any]:
        with transaction(factory) as s:
            return list(s.execute(select(SearchCandidate.run, SearchCandidate.iteration, SearchCandidate.idx,
                                         SearchCandidate.id, SearchCandidate.response)).all())

    with serve_in_thread(organism) as url:
        search_id, job_id = start(settings, factory, url, "two-emoji-triggers", spec)
        first = worker(db_url, tmp_path / "data")
        deadline = time.monotonic() + 60
        while len(stored()) < 40:
            assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
            assert time.monotonic() < deadline, "no candidates stored"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        at_kill = {r[:3]: r for r in stored()}
        assert 40 <= len(at_kill) < 144
        second = worker(db_url, tmp_path / "data")
        try:
            deadline = time.monotonic() + 120
            while True:
                with transaction(factory) as s:
                    job = jobs_repo.get(s, job_id)
                    if job.status in ("succeeded", "failed"):
                        break
                assert time.monotonic() < deadline, "the second worker did not finish"
                time.sleep(0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=30) == 0
        calls = organism.state.requests

    final = stored()
    with transaction(factory) as s:
        job = jobs_repo.get(s, job_id)
        doc = searches.get(s, search_id).result
    engine.dispose()
    assert job.status == "succeeded", job.error
    keys = [r[:3] for r in final]
    assert len(keys) == len(set(keys)) == 144 == doc["usage"]["candidates"]
    assert all({r[:3]: r for r in final}[k] == v for k, v in at_kill.items())  # untouched
    # only what was in flight at the kill was asked again, and each worker's attempt checked the
    # target once before it searched
    assert 144 + 2 <= calls <= 144 + 2 + 4
