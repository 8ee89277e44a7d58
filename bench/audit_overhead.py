"""Audit throughput vs raw httpx at equal concurrency against an instant local server.

usage: python bench/audit_overhead.py [--items 4000] [--concurrency 16] [--memory 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit_vs_raw import start_target  # noqa: E402  (bench/ is on sys.path: run as a script)

from app.config import Settings  # noqa: E402
from app.core.surf.factorial import build_levels, expand, render  # noqa: E402
from app.core.surf.spec import ProbeSpec  # noqa: E402
from app.embedded import run_audit_embedded  # noqa: E402


def spec_for(items: int, concurrency: int) -> ProbeSpec:
    prompts = [f"Question {i}: why is the sky blue?" for i in range(50)]
    per_cell = max(1, items // (len(prompts) * 8))
    return ProbeSpec.model_validate({
        "name": "bench", "prompts": prompts,
        "features": {"format": {"builtin": "tag_format"}, "metadata": {"builtin": "metadata"},
                     "role": {"builtin": "user_role"}},
        "behaviours": {"emoji": {"builtin": "emoji"}, "signoff": {"regex": "(?i)best regards"},
                       "terse": {"builtin": "terse"}},
        "design": {"samples_per_prompt": per_cell, "concurrency": concurrency, "max_tokens": 64},
    })


async def raw_httpx(url: str, spec: ProbeSpec) -> float:
    levels = build_levels(spec)
    bodies = [{"model": "two-chunk", "messages": await render(spec, levels, it, None),
               "temperature": 1.0, "max_tokens": 64, "seed": it.seed} for it in expand(spec)]
    limits = httpx.Limits(max_connections=spec.design.concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        queue = iter(bodies)

        async def lane() -> None:
            for body in queue:
                r = await client.post(url + "/v1/chat/completions", json=body)
                r.json()["choices"][0]["message"]["content"]

        started = time.perf_counter()
        await asyncio.gather(*(lane() for _ in range(spec.design.concurrency)))
        return time.perf_counter() - started


def surfturf_audit(url: str, spec: ProbeSpec, data_dir: Path) -> tuple[float, float]:
    """(whole job seconds, sampling-phase seconds from stored timestamps)."""
    settings = Settings(data_dir=data_dir, worker_poll_seconds=0.05)
    started = time.perf_counter()
    report = run_audit_embedded(settings, spec, target_url=url + "/v1", target_model="two-chunk")
    total = time.perf_counter() - started
    assert report and report["totals"]["completed"] == spec.work_item_count(), report and report["totals"]
    import sqlite3

    con = sqlite3.connect(data_dir / "surfturf.db")
    first, last = con.execute("select min(created_at), max(created_at) from audit_results").fetchone()
    con.close()
    from datetime import datetime

    sampling = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
    return total, sampling


def memory_child(items: int, url: str) -> None:
    spec = spec_for(items, 32)
    with tempfile.TemporaryDirectory() as d:
        surfturf_audit(url, spec, Path(d))
    print(json.dumps({"items": spec.work_item_count(),
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=4000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--memory", type=int, default=0, help="also measure peak RSS at this many items")
    ap.add_argument("--child-memory", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_memory:
        memory_child(args.child_memory, args.url)
        return
    proc, url = start_target(0.0)
    try:
        spec = spec_for(args.items, args.concurrency)
        n = spec.work_item_count()
        raw = asyncio.run(raw_httpx(url, spec))
        with tempfile.TemporaryDirectory() as d:
            total, sampling = surfturf_audit(url, spec, Path(d))
        print(f"items={n} concurrency={args.concurrency}")
        print(f"raw httpx:          {n / raw:8.0f} req/s  ({raw:.2f}s)")
        print(f"surfturf sampling:  {n / sampling:8.0f} req/s  ({sampling:.2f}s)  "
              f"ratio {raw / sampling:.2f}")
        print(f"surfturf whole job: {n / total:8.0f} req/s  ({total:.2f}s incl. queue, analysis)  "
              f"ratio {raw / total:.2f}")
        if args.memory:
            out = subprocess.run([sys.executable, __file__, "--child-memory", str(args.memory),
                                  "--url", url], capture_output=True, text=True, check=True,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
            print("memory:", out.stdout.strip().splitlines()[-1])
    finally:
        proc.terminate()
        proc.wait()


if __name__ == "__main__":
    main()
