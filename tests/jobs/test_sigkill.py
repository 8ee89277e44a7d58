"""A worker process SIGKILLed mid-audit: another worker finishes it, each sample stored once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.audits import use_cases as audits
from app.db.engine import make_engine, make_session_factory, transaction
from app.db.repositories import jobs as jobs_repo
from app.db.tables import AuditResult, Job
from app.organism_server import create_organism_app
from app.services import targets
from app.services.owners import Principal
from app.serving import serve_in_thread
from tests.conftest import make_settings, organism_spec

SPEC = {
    "name": "crash-test",
    "prompts": [f"Question number {i}: why is the sky blue?" for i in range(10)],
    "features": {"format": {"levels": {"plain": "{prompt}", "tagged": "<query>{prompt}</query>"}},
                 "metadata": {"builtin": "metadata"}},
    "behaviours": {"emoji": {"builtin": "emoji"}},
    "design": {"samples_per_prompt": 20, "concurrency": 4},
}  # 2 × 2 × 10 × 20 = 800 samples


def start_worker(db_url: str, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SURFTURF_DATABASE_URL": db_url, "SURFTURF_DATA_DIR": str(data_dir),
           "SURFTURF_AUDIT_POLL_SECONDS": "0.2",
           "SURFTURF_LEASE_SECONDS": "2", "SURFTURF_HEARTBEAT_SECONDS": "0.3",
           "SURFTURF_WORKER_POLL_SECONDS": "0.1", "SURFTURF_LOG_LEVEL": "WARNING",
           "SURFTURF_TARGET_EGRESS": "public,loopback"}
    return subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--concurrency", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.mark.slow
def test_sigkill_mid_audit_then_another_worker_finishes(tmp_path: Path, db_url: str) -> None:
    settings = make_settings(tmp_path, db_url, audit_chunk_size=0)  # one job: see the next test
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    organism = create_organism_app(organism_spec("two-chunk"), latency_ms=15)
    with serve_in_thread(organism) as url:
        with transaction(factory) as s:
            t = targets.create(s, settings, {"name": "o", "base_url": url + "/v1", "model": "two-chunk"},
                               "tester")
            audit = audits.create(s, settings, target_id=t.id, spec=SPEC, who=Principal("tester"))
            audit_id, job_id = audit.id, audit.job_id

        def progress() -> tuple[str, int]:
            with transaction(factory) as s:
                j = jobs_repo.get(s, job_id)
                return j.status, j.progress_done

        first = start_worker(db_url, tmp_path / "data")
        deadline = time.monotonic() + 60
        while progress()[1] < 200:
            assert first.poll() is None, first.stderr.read().decode() if first.stderr else ""
            assert time.monotonic() < deadline, "first worker made no progress"
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
        time.sleep(0.5)  # requests whose bytes arrived before the kill are answered (and counted)
        requests_at_kill = organism.state.requests
        with transaction(factory) as s:
            stored_at_kill = s.scalar(select(func.count()).select_from(AuditResult))
        assert 0 < stored_at_kill < 800

        second = start_worker(db_url, tmp_path / "data")
        try:
            deadline = time.monotonic() + 90
            while progress()[0] not in ("succeeded", "failed"):
                assert time.monotonic() < deadline, "second worker did not finish"
                time.sleep(0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=30) == 0
        requests = organism.state.requests

    with transaction(factory) as s:
        j = jobs_repo.get(s, job_id)
        keys = s.execute(select(AuditResult.cell_key, AuditResult.prompt_index,
                                AuditResult.sample_index, AuditResult.error)).all()
        report = audits.get(s, audit_id).report
    engine.dispose()
    assert j.status == "succeeded" and j.attempts == 2, j.error
    assert len(keys) == 800 and len({k[:3] for k in keys}) == 800
    assert all(k[3] is None for k in keys)
    # Only missing items were redone: the second worker asked for exactly the samples not stored
    # at the kill, after its one preflight call; what the first lost is the batch it had not yet
    # written plus what was in flight (a batch being written, too, when the kill lands then).
    assert requests - requests_at_kill == (800 - stored_at_kill) + 1
    assert requests_at_kill - 1 - stored_at_kill <= 2 * 64 + 4
    assert report["totals"]["completed"] == 800
    # D10: usage sums both attempts (each stored sample was a request of one of them), not the last
    assert report["usage"]["attempts"] == 2 and report["usage"]["requests"] >= 800


@pytest.mark.slow
def test_sigkill_one_of_two_workers_sharing_a_chunked_audit(tmp_path: Path, db_url: str) -> None:
    """Eight chunks over two worker processes; one is killed mid-audit, its chunks' leases
    expire and the survivor takes them over: every sample stored once, one analysis."""
    settings = make_settings(tmp_path, db_url, audit_chunk_size=100)
    engine = make_engine(db_url)
    factory = make_session_factory(engine)
    organism = create_organism_app(organism_spec("two-chunk"), latency_ms=15)
    with serve_in_thread(organism) as url:
        with transaction(factory) as s:
            t = targets.create(s, settings, {"name": "o", "base_url": url + "/v1", "model": "two-chunk"},
                               "tester")
            audit = audits.create(s, settings, target_id=t.id, spec=SPEC, who=Principal("tester"))
            audit_id, job_id = audit.id, audit.job_id

        def progress() -> tuple[str, int]:
            with transaction(factory) as s:
                j = jobs_repo.get(s, job_id)
                return j.status, j.progress_done

        def victim_mid_chunk(pid: int) -> bool:
            """The victim holds a chunk it is early in (a chunk takes ~0.4 s): killing it now
            strands that chunk, so the survivor must take it over."""
            with transaction(factory) as s:
                return bool(s.scalar(select(func.count()).select_from(Job).where(
                    Job.kind == "audit.chunk", Job.status == "running", Job.progress_done < 50,
                    Job.lease_owner.like(f"%:{pid}:%"))))

        victim, survivor = (start_worker(db_url, tmp_path / "data") for _ in range(2))
        try:
            deadline = time.monotonic() + 60
            while not victim_mid_chunk(victim.pid):
                assert victim.poll() is None, victim.stderr.read().decode() if victim.stderr else ""
                assert progress()[0] != "succeeded" and time.monotonic() < deadline, "never mid-chunk"
                time.sleep(0.02)
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            deadline = time.monotonic() + 90
            while progress()[0] not in ("succeeded", "failed"):
                assert survivor.poll() is None, survivor.stderr.read().decode() if survivor.stderr else ""
                assert time.monotonic() < deadline, "the survivor did not finish"
                time.sleep(0.1)
        finally:
            survivor.send_signal(signal.SIGTERM)
            assert survivor.wait(timeout=30) == 0
        requests = organism.state.requests

    with transaction(factory) as s:
        j = jobs_repo.get(s, job_id)
        row = audits.get(s, audit_id)
        chunks = [jobs_repo.get(s, c) for c in row.config["chunk_jobs"]]
        keys = s.execute(select(AuditResult.cell_key, AuditResult.prompt_index,
                                AuditResult.sample_index, AuditResult.error)).all()
    engine.dispose()
    assert j.status == "succeeded", j.error
    assert len(chunks) == 8 and all(c.status == "succeeded" for c in chunks)
    # the victim's stranded chunk, taken over by the survivor
    assert any(c.attempts == 2 for c in chunks), [(c.attempts, c.result.get("worker")) for c in chunks]
    assert len(keys) == 800 and len({k[:3] for k in keys}) == 800 and all(k[3] is None for k in keys)
    # Redone: at most the victim's two chunks' unflushed batches and in-flight calls; preflight.
    assert 800 <= requests <= 800 + 2 * (64 + 4) + 1
    assert row.report["totals"]["completed"] == 800
