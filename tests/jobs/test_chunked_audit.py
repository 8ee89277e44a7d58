"""One big audit cut into chunk jobs: two workers share it, each sample lands once, the analysis
runs once, progress sums over chunks; cancel reaches every chunk and resume picks them up."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from app.audits import use_cases as audits
from app.config import Settings
from app.db.engine import make_engine, make_session_factory, transaction
from app.db.repositories import jobs as jobs_repo
from app.db.tables import AuditResult, WebhookDelivery
from app.jobs.registry import load_builtin_tasks
from app.jobs.runner import Worker
from app.organism_server import create_organism_app
from app.schemas.audits import AuditRead, AuditStatus
from app.services import targets
from app.services.owners import Principal
from app.serving import serve_in_thread
from app.webhooks import use_cases as webhooks
from tests.conftest import make_settings, organism_spec
from tests.jobs.test_sigkill import SPEC  # 800 samples

TESTER = Principal("tester")
AUDIT_TASKS = {k: v for k, v in load_builtin_tasks().items() if k.startswith("audit.")}


def setup(settings: Settings, factory: sessionmaker[Session], url: str) -> tuple[str, str]:
    with transaction(factory) as s:
        t = targets.create(s, settings, {"name": "o", "base_url": url + "/v1", "model": "two-chunk"},
                           "tester")
        webhooks.create(s, settings, {"url": "http://127.0.0.1:9/hook", "events": ["audit.completed"]},
                        TESTER)
        audit = audits.create(s, settings, target_id=t.id, spec=SPEC, who=TESTER)
        return audit.id, audit.job_id or ""


def state(factory: sessionmaker[Session], audit_id: str) -> dict[str, Any]:
    with transaction(factory) as s:
        row = audits.get(s, audit_id)
        own = jobs_repo.get(s, row.job_id or "")
        chunks = [jobs_repo.get(s, j) for j in (row.config or {}).get("chunk_jobs", [])]
        keys = s.execute(select(AuditResult.cell_key, AuditResult.prompt_index,
                                AuditResult.sample_index).where(AuditResult.audit_id == audit_id)).all()
        return {"job": own, "chunks": chunks, "keys": keys, "report": row.report,
                "read": AuditRead.from_row(row, own),
                "completed_events": s.scalar(select(func.count()).select_from(WebhookDelivery)
                                             .where(WebhookDelivery.event_type == "audit.completed"))}


async def run_workers(workers: list[Worker], factory: sessionmaker[Session], audit_id: str,
                      until: Any, timeout: float = 60) -> list[dict[str, Any]]:
    """Run the workers until `until(state)` holds; returns the states seen while waiting."""
    tasks = [asyncio.create_task(w.run(grace_seconds=2)) for w in workers]
    seen = []
    try:
        async with asyncio.timeout(timeout):
            while not until(st := await asyncio.to_thread(state, factory, audit_id)):
                seen.append(st)
                await asyncio.sleep(0.05)
    finally:
        for w in workers:
            w.stop()
        await asyncio.gather(*tasks)
    return seen


@pytest.fixture
def chunked(tmp_path: Path, db_url: str) -> Any:
    settings = make_settings(tmp_path, db_url, audit_chunk_size=100, audit_poll_seconds=0.2,
                             webhook_egress="loopback")
    engine = make_engine(db_url)
    organism = create_organism_app(organism_spec("two-chunk"), latency_ms=15)
    with serve_in_thread(organism) as url:
        yield settings, make_session_factory(engine), url, organism
    engine.dispose()


def test_two_workers_share_one_audit_and_it_is_analysed_once(chunked: Any) -> None:
    settings, factory, url, organism = chunked
    audit_id, job_id = setup(settings, factory, url)
    workers = [Worker(settings, factory, concurrency=2, worker_id=f"w{i}", tasks=AUDIT_TASKS)
               for i in (1, 2)]
    seen = asyncio.run(run_workers(workers, factory, audit_id,
                                   lambda st: st["job"].status in ("succeeded", "failed")))
    end = state(factory, audit_id)
    assert end["job"].status == "succeeded", end["job"].error
    assert len(end["chunks"]) == 8 and all(c.status == "succeeded" for c in end["chunks"])
    assert {c.result["worker"] for c in end["chunks"]} == {"w1", "w2"}  # both took chunks
    assert len(end["keys"]) == 800 and len(set(end["keys"])) == 800
    assert 800 <= organism.state.requests <= 801  # one preflight, no sample twice
    assert end["report"]["totals"]["completed"] == 800 and end["completed_events"] == 1
    assert end["report"]["usage"]["requests"] >= 800 and end["report"]["usage"]["attempts"] == 8
    assert (end["job"].progress_done, end["job"].progress_total) == (800, 800)
    # While chunks sampled, the audit read as running and its progress summed over chunks.
    middle = [st for st in seen if st["chunks"] and 0 < st["job"].progress_done < 800]
    assert middle and all(st["read"].status is AuditStatus.running for st in middle)
    assert any("chunks" in (st["job"].progress_message or "") for st in middle)
    dones = [st["job"].progress_done for st in seen]
    assert dones == sorted(dones)


def test_cancel_reaches_every_chunk_and_resume_finishes_exactly(chunked: Any) -> None:
    settings, factory, url, organism = chunked
    audit_id, job_id = setup(settings, factory, url)
    def one() -> list[Worker]:
        return [Worker(settings, factory, concurrency=2, worker_id="solo", tasks=AUDIT_TASKS)]

    asyncio.run(run_workers(one(), factory, audit_id, lambda st: len(st["keys"]) >= 200))
    with transaction(factory) as s:
        assert audits.cancel(s, audit_id, TESTER).status in ("cancelled", "running")
    # The worker above stopped; chunks left queued are cancelled at once, running ones were
    # released when it stopped and are cancelled too (no one runs them again).
    mid = state(factory, audit_id)
    assert mid["job"].status == "cancelled"
    assert all(c.status in ("cancelled", "succeeded") for c in mid["chunks"]), \
        [c.status for c in mid["chunks"]]
    assert 200 <= len(mid["keys"]) < 800 and mid["report"] is None
    with transaction(factory) as s:
        audits.resume(s, settings, audit_id, TESTER)
    asyncio.run(run_workers(one(), factory, audit_id,
                            lambda st: st["job"].status in ("succeeded", "failed")))
    end = state(factory, audit_id)
    assert end["job"].status == "succeeded", end["job"].error
    assert len(end["keys"]) == 800 and len(set(end["keys"])) == 800
    assert end["report"]["totals"]["completed"] == 800 and end["completed_events"] == 1
    # Only what was missing was sampled again: in-flight calls at the stop, and two preflights.
    assert 800 <= organism.state.requests <= 800 + 2 * 2 * 4 + 2
