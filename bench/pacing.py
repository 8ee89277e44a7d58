"""Send pacing (app/core/llm/pacing.py) on and off: the audit's target client sending the same
requests at the same concurrency to a planted organism (its own process) at several latencies.

usage: python bench/pacing.py [--latencies 5,20,100] [--concurrency 4,16,64] [--seconds 3] [--runs 3]
Prints, per target latency and concurrency, the median time without and with pacing and their
ratio (> 1: pacing is faster). Each case sends about --seconds worth of requests at its best
rate; the two settings alternate within each run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import cast

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit_vs_raw import bodies, spec_dict, start_target  # noqa: E402  (run as a script)

from app.core.llm.base import Message  # noqa: E402
from app.core.llm.openai_client import OpenAIChatClient  # noqa: E402
from app.core.surf.spec import ProbeSpec  # noqa: E402

Body = dict[str, object]


async def send_all(url: str, requests: list[Body], concurrency: int, pacing: bool) -> float:
    client = OpenAIChatClient(url + "/v1", "two-chunk", max_concurrency=concurrency, pacing=pacing)
    queue = iter(requests)

    async def lane() -> None:
        for b in queue:
            params = {k: b[k] for k in ("temperature", "seed", "max_tokens", "top_p")}
            await client.chat(cast(list[Message], b["messages"]), **params)

    started = time.perf_counter()
    try:
        await asyncio.gather(*(lane() for _ in range(concurrency)))
    finally:
        await client.aclose()
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--latencies", default="5,20,100")
    ap.add_argument("--concurrency", default="4,16,64")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    every = asyncio.run(bodies(ProbeSpec.model_validate(spec_dict(9216, 16))))
    print(f"{'latency':>8s} {'lanes':>5s} {'requests':>8s} {'unpaced':>8s} {'paced':>8s} {'ratio':>6s}")
    for latency in (float(x) for x in args.latencies.split(",")):
        proc, url = start_target(latency)
        try:
            for lanes in (int(x) for x in args.concurrency.split(",")):
                n = min(len(every), max(lanes, int(args.seconds * lanes / (latency / 1000))))
                requests = every[:n]
                asyncio.run(send_all(url, requests[:lanes * 4], lanes, True))  # connect, warm up
                times: dict[bool, list[float]] = {False: [], True: []}
                for _ in range(args.runs):
                    for pacing in (False, True):
                        times[pacing].append(asyncio.run(send_all(url, requests, lanes, pacing)))
                off, on = statistics.median(times[False]), statistics.median(times[True])
                print(f"{latency:6g}ms {lanes:5d} {n:8d} {off:7.2f}s {on:7.2f}s {off / on:6.2f}")
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
