"""One large audit on Postgres sampled by 1, 2 and 4 worker processes against a latency-bound
target (a planted organism answering after --latency-ms); prints each wall time and the speed-up
over one worker, measured in the same run. Each worker runs one job at a time (--concurrency 1)
with design.concurrency requests in flight, so a worker's throughput is fixed and only the
number of workers changes. Goal: >= 1.8x at 2 workers.

usage: python bench/scale_out.py [--samples 2400] [--latency-ms 100] [--concurrency 8]
       [--chunk 200] [--workers 1,2,4]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit_vs_raw import start_target  # noqa: E402  (bench/ is on sys.path: run as a script)
from sqlalchemy import create_engine, text  # noqa: E402

from app.audits import use_cases as audits  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import migrate  # noqa: E402
from app.db.engine import make_engine, make_session_factory, transaction  # noqa: E402
from app.db.repositories import jobs as jobs_repo  # noqa: E402
from app.services import targets  # noqa: E402
from app.services.owners import Principal  # noqa: E402

ADMIN = os.environ.get("SURFTURF_BENCH_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def spec(samples: int, concurrency: int) -> dict[str, object]:
    prompts = [f"Question {i}: why is the sky blue?" for i in range(20)]
    return {"name": "scale-out", "prompts": prompts,
            "features": {"format": {"builtin": "tag_format"}, "metadata": {"builtin": "metadata"}},
            "behaviours": {"emoji": {"builtin": "emoji"}, "signoff": {"regex": "(?i)best regards"}},
            "design": {"samples_per_prompt": max(1, samples // (len(prompts) * 4)),
                       "concurrency": concurrency}}


def one_run(n_workers: int, args: argparse.Namespace, url: str) -> tuple[float, int]:
    """Fresh database, one audit, n worker processes: seconds from the first worker's start
    to the stored report."""
    name = f"bench_scale_{uuid.uuid4().hex[:8]}"
    admin = create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    db = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    data = Path(tempfile.mkdtemp(prefix="surfturf-scale-"))
    try:
        migrate.upgrade(db)
        settings = Settings(env="test", database_url=db, data_dir=data, audit_chunk_size=args.chunk,
                            target_egress="loopback")
        engine = make_engine(db)
        factory = make_session_factory(engine)
        with transaction(factory) as s:
            t = targets.create(s, settings, {"name": "o", "base_url": url + "/v1", "model": "two-chunk"},
                               "bench")
            a = audits.create(s, settings, target_id=t.id, spec=spec(args.samples, args.concurrency),
                              who=Principal("bench"))
            audit_id, job_id, planned = a.id, a.job_id, a.config["work_items"]
        env = {**os.environ, "SURFTURF_DATABASE_URL": db, "SURFTURF_DATA_DIR": str(data),
               "SURFTURF_TARGET_EGRESS": "loopback", "SURFTURF_LOG_LEVEL": "WARNING",
               "SURFTURF_WORKER_POLL_SECONDS": "0.1", "SURFTURF_AUDIT_POLL_SECONDS": "0.2"}
        started = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-m", "app.cli", "worker", "--concurrency", "1"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for _ in range(n_workers)]
        try:
            while True:
                with transaction(factory) as s:
                    job = jobs_repo.get(s, job_id or "")
                    assert job is not None
                    if job.status in ("succeeded", "failed", "cancelled"):
                        break
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
            assert job.status == "succeeded", job.error
            with transaction(factory) as s:
                report = audits.get(s, audit_id).report
            assert report is not None and report["totals"]["completed"] == planned
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(timeout=60)
            engine.dispose()
        return elapsed, planned
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=2400)
    ap.add_argument("--latency-ms", type=float, default=100.0)
    ap.add_argument("--concurrency", type=int, default=8, help="design.concurrency (per chunk job)")
    ap.add_argument("--chunk", type=int, default=200, help="SURFTURF_AUDIT_CHUNK_SIZE")
    ap.add_argument("--workers", default="1,2,4")
    args = ap.parse_args()
    proc, url = start_target(args.latency_ms)
    try:
        counts = [int(x) for x in args.workers.split(",")]
        times: dict[int, float] = {}
        for n in counts:
            times[n], planned = one_run(n, args, url)
            ideal = planned * args.latency_ms / 1000 / (args.concurrency * n)
            print(f"{n} worker(s): {times[n]:6.1f} s for {planned} samples "
                  f"({planned / times[n]:5.0f}/s; the target's floor at this concurrency: {ideal:.1f} s)")
        base = times[counts[0]]
        for n in counts[1:]:
            print(f"speed-up at {n} workers: {base / times[n]:.2f}x (ideal {n / counts[0]:.0f}x)")
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
