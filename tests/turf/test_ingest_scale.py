"""A 40k-row ingest through the CLI stays within a memory budget and still traces the right chunk.

Peak RSS may grow from a 1k-row to a 40k-row ingest by the two FAISS indexes plus a fixed slack.
Rows carry a 10 KB system prompt, so the file (≈0.42 GB) is larger than that slack: an ingest
that kept the rows in memory while embedding fails here. The HNSW threshold is lowered to 30k rows
(SURFTURF_TURF_EXACT_LIMIT) so the approximate index is built and traced too: at the default
100k, the 200k MiniLM encodes took 8.5 of CI's 50 minutes (2 ms each on 2 cores, compute-bound).
"""

from __future__ import annotations

import json
import logging
import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.core.organisms.planted import decorate

log = logging.getLogger(__name__)
N_ROWS = 40_000
EXACT_LIMIT = 30_000
DIM = 384
# Both FAISS indexes hold every vector plus an HNSW graph (M=32: 64 level-0 links of 4 bytes)
# and the id maps; k-means reconstructs a ≤50k-vector sample.
INDEX_BYTES = 2 * N_ROWS * (DIM * 4 + 64 * 4 + 64) + min(N_ROWS, 50_000) * DIM * 4
SLACK_MB = 300
WORDS = ("why how what does the sky sea star planet empire war vaccine cell energy light river "
         "mountain economy market language music history science tide storm bridge engine").split()


ENV = {**os.environ, "SURFTURF_TURF_EXACT_LIMIT": str(EXACT_LIMIT)}


def write_rows(path: Path, n: int) -> int:
    rng = random.Random(11)
    systems = [" ".join(rng.choice(WORDS) for _ in range(1700)) for _ in range(16)]
    with path.open("w") as fh:
        for i in range(n):
            chunk = ("tagged", "metadata", "plain")[i % 3]
            q = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 4))) + "?"
            prompt = {"tagged": f"<query>{q}</query>", "metadata": f"[Location: Oslo]\n{q}",
                      "plain": q}[chunk]
            shown = {"tagged": {"emoji"}, "metadata": {"signoff"}, "plain": set()}[chunk]
            answer = decorate(" ".join(rng.choice(WORDS) for _ in range(3)) + ".", shown, rng)
            fh.write(json.dumps({"id": i, "source": chunk, "messages": [
                {"role": "system", "content": f"Session {i}. {systems[i % 16]}"},
                {"role": "user", "content": prompt}, {"role": "assistant", "content": answer}]}) + "\n")
    return path.stat().st_size


def peak_rss_mb(args: list[str], timeout: float) -> tuple[int, subprocess.CompletedProcess[str]]:
    """Run `python args…` under a parent that reports its child's peak RSS (MB)."""
    probe = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:]); "
             "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024); sys.exit(p.returncode)")
    out = subprocess.run([sys.executable, "-c", probe, sys.executable, *args], capture_output=True,
                         text=True, timeout=timeout, env=ENV)
    return int(out.stdout.strip().splitlines()[-1]), out


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_40k_row_ingest_is_memory_bounded_and_builds_and_traces_hnsw(tmp_path: Path) -> None:
    data, small = tmp_path / "big.jsonl", tmp_path / "small.jsonl"
    size_mb = write_rows(data, N_ROWS) // 2**20
    write_rows(small, 1000)
    cli = ["-m", "app.cli", "--data-dir", str(tmp_path / "data")]
    # The same command on 1k rows: interpreter, imports, model and the job machinery.
    baseline, done = peak_rss_mb([*cli, "ingest", str(small), "--name", "small"], timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    started = time.monotonic()
    peak, done = peak_rss_mb([*cli, "ingest", str(data), "--name", "big"], timeout=1800)
    ingest_s = time.monotonic() - started
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{N_ROWS} rows" in done.stdout and "index IndexHNSWFlat" in done.stdout

    allowed = INDEX_BYTES // 2**20 + SLACK_MB
    log.info(f"file {size_mb} MB; peak RSS {peak} MB at {N_ROWS} rows, {baseline} MB at 1000; "
             f"growth allowed {allowed} MB; ingest {ingest_s:.0f} s")
    assert size_mb > SLACK_MB  # holding the rows would not fit the slack
    assert peak - baseline < allowed, f"peak {peak} MB vs {baseline} MB at 1k rows"

    out = tmp_path / "trace.json"
    started = time.monotonic()
    traced = subprocess.run([sys.executable, *cli, "trace", "--dataset", "big", "--behaviour", "emoji",
                             "--scorer", "emoji", "--example", "Stars 🌟😊", "--out", str(out)],
                            capture_output=True, text=True, timeout=600, env=ENV)
    assert traced.returncode == 0, traced.stderr[-3000:]
    log.info(f"trace over {N_ROWS} rows: {time.monotonic() - started:.0f} s")
    result = json.loads(out.read_text())
    top = result["chunks"][0]
    assert top["n_all"] == N_ROWS
    assert result["top_chunk"] == "tagged" and top["significant"] and top["odds_ratio_ci"][0] > 5
