"""`/healthz` latency while N dataset uploads stream in at once, against the same server idle.

The server is `surfturf serve --no-worker` in its own process (a real deployment's event loop);
uploads are sent from this process and health checks from another one (a monitor's), over
loopback, one keep-alive connection, every 50 ms. Prints the health latency
percentiles idle and under load, their ratio, and every upload's status. Goal (issue 28): every
health request answered within 1 s while >= 10 uploads run; no 5xx; same-name uploads 409.

    python bench/uploads_health.py [--uploads 12] [--rows 20000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.serving import free_port  # noqa: E402


def body(rows: int) -> bytes:
    return "\n".join(json.dumps({"prompt": f"question {i}: " + "why " * 20, "response": "because " * 30})
                     for i in range(rows)).encode()


def upload(url: str, key: str, name: str, data: bytes, out: list[int]) -> None:
    def chunks():  # type: ignore[no-untyped-def]
        for i in range(0, len(data), 64 << 10):
            yield data[i:i + (64 << 10)]

    try:
        r = httpx.post(f"{url}/v1/datasets", params={"name": name}, content=chunks(), timeout=600,
                       headers={"Authorization": f"Bearer {key}", "content-type": "application/octet-stream"})
        out.append(r.status_code)
    except httpx.HTTPError:
        out.append(0)  # no answer at all


HEALTH_PROBE = """
import sys, time, httpx
url, stop = sys.argv[1], sys.argv[2]
import os
with httpx.Client() as c:
    while not os.path.exists(stop):
        t = time.perf_counter()
        try:
            c.get(url + "/healthz", timeout=30).raise_for_status()
        except httpx.TimeoutException:
            pass
        print(time.perf_counter() - t, flush=True)
        time.sleep(0.05)
"""


def health_latencies(url: str, seconds: float | None = None, stop: Path | None = None) -> list[float]:
    """From a process of its own, so that the uploads' client threads here do not delay it."""
    assert (seconds is None) != (stop is None)
    flag = stop or Path(tempfile.mktemp(prefix="surfturf-stop-"))
    probe = subprocess.Popen([sys.executable, "-c", HEALTH_PROBE, url, str(flag)], stdout=subprocess.PIPE,
                             text=True)
    if seconds is not None:
        time.sleep(seconds)
        flag.touch()
    out, _ = probe.communicate(timeout=600)
    return [float(x) for x in out.split()]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--uploads", type=int, default=12, help="concurrent uploads (half share one name)")
    ap.add_argument("--rows", type=int, default=20_000, help="rows per upload")
    ap.add_argument("--database-url", help="default: SQLite in a temporary data dir")
    args = ap.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="surfturf-bench-"))
    env = {**os.environ, "SURFTURF_DATA_DIR": str(data_dir), "SURFTURF_LOG_LEVEL": "WARNING"}
    if args.database_url:
        env["SURFTURF_DATABASE_URL"] = args.database_url
    cli = [sys.executable, "-m", "app.cli"]
    made = subprocess.run([*cli, "keys", "create", "bench"], env=env, capture_output=True, text=True,
                          check=True, cwd=ROOT)
    key = made.stdout.rsplit(": ", 1)[1].strip()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*cli, "serve", "--no-worker", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        idle = health_latencies(url, seconds=3.0)
        data = body(args.rows)
        codes: list[int] = []
        names = ["same"] * (args.uploads // 2) + [f"u{i}" for i in range(args.uploads - args.uploads // 2)]
        threads = [threading.Thread(target=upload, args=(url, key, n, data, codes)) for n in names]
        stop = Path(tempfile.mktemp(prefix="surfturf-stop-"))
        loaded: list[float] = []
        watcher = threading.Thread(target=lambda: loaded.extend(health_latencies(url, stop=stop)))
        started = time.perf_counter()
        watcher.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        stop.touch()
        watcher.join()
    finally:
        server.terminate()
        server.wait(30)

    def pct(xs: list[float], q: float) -> float:
        return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1000

    print(f"{args.uploads} uploads of {len(data) / 1e6:.1f} MB ({args.rows} rows) in {wall:.1f} s; "
          f"statuses {sorted(codes)}")
    print(f"/healthz idle:   n={len(idle)} median {statistics.median(idle) * 1000:.1f} ms, "
          f"p95 {pct(idle, 0.95):.1f} ms, max {max(idle) * 1000:.1f} ms")
    print(f"/healthz loaded: n={len(loaded)} median {statistics.median(loaded) * 1000:.1f} ms, "
          f"p95 {pct(loaded, 0.95):.1f} ms, max {max(loaded) * 1000:.1f} ms")
    print(f"ratio loaded/idle (median): {statistics.median(loaded) / statistics.median(idle):.2f}; "
          f"goal: max under load < 1000 ms -> {'met' if max(loaded) < 1 else 'NOT met'}")
    assert all(0 < c < 500 for c in codes), codes
    assert sorted(codes).count(201) == args.uploads - args.uploads // 2 + 1, codes


if __name__ == "__main__":
    main()
