"""Start-up: `surfturf serve` until /healthz answers, against a bare FastAPI app under uvicorn
started the same way in the same run; and `surfturf --help`.

usage: python bench/startup.py [--runs 5]
Goals (issue 12): serve within 2.5x the bare app; --help under 1 s. Prints medians.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit_vs_raw import compile_project  # noqa: E402  (bench/ is on sys.path: run as a script)

from app.serving import free_port  # noqa: E402

BARE_APP = """
from fastapi import FastAPI
app = FastAPI()

@app.get("/healthz")
def healthz():
    return {"status": "ok"}
"""


def until_healthy(cmd: list[str], port: int, cwd: Path) -> float:
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{cmd} exited with {proc.returncode}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=0.5).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                time.sleep(0.01)
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    compile_project()
    bare, ours, again, helps = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        (d / "bare_app.py").write_text(BARE_APP, encoding="utf-8")
        for run in range(args.runs):
            port = free_port()
            bare.append(until_healthy([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port),
                                       "--log-level", "warning"], port, d))
            for times in (ours, again):  # a first start (migrates), then a restart on that database
                port = free_port()
                times.append(until_healthy([sys.executable, "-m", "app.cli", "--data-dir",
                                            str(d / f"data{run}"), "serve", "--port", str(port)], port, ROOT))
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "app.cli", "--help"], cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
            helps.append(time.perf_counter() - started)
    b, h = statistics.median(bare), statistics.median(helps)
    print(f"runs={args.runs} (medians)")
    print(f"bare FastAPI app          → /healthz  {b:5.2f} s   {[round(x, 2) for x in bare]}")
    for label, times in (("surfturf serve, new db", ours), ("surfturf serve, restart", again)):
        t = statistics.median(times)
        print(f"{label:<25} → /healthz  {t:5.2f} s   {[round(x, 2) for x in times]}   "
              f"ratio {t / b:.2f} (goal ≤ 2.5)")
    print(f"surfturf --help: {h:.2f} s  (goal < 1 s)")


if __name__ == "__main__":
    main()
