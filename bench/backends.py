"""Local model backends on the same prompts: tokens/s and requests/s at concurrency 1, 8, 32.

Each backend is served by `surfturf models serve smollm2 --backend B` and driven over HTTP by
the target client; ratios are against the transformers backend measured in the same run.
usage: python bench/backends.py [--vllm-python .venv-vllm/bin/python] [--requests 32]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.llm import OpenAIChatClient  # noqa: E402
from app.serving import free_port  # noqa: E402

PROMPTS = ["Why is the sky blue?", "How do vaccines work?", "What causes the seasons?",
           "Explain photosynthesis briefly.", "What is a black hole?", "How do magnets work?",
           "Why do we dream?", "What is inflation in economics?"]


def serve(python: str, backend: str, data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([python, "-m", "app.cli", "--data-dir", str(data_dir), "models", "serve",
                             "smollm2", "--backend", backend, "--port", str(port)], cwd=ROOT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1", "VLLM_CPU_KVCACHE_SPACE": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url + "/v1/models", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(1)
    proc.kill()
    raise RuntimeError(f"{backend} server did not start")


async def drive(url: str, concurrency: int, requests: int, max_tokens: int) -> tuple[float, float]:
    client = OpenAIChatClient(url + "/v1", "smollm2", max_concurrency=concurrency, timeout=600)
    try:
        await client.chat([{"role": "user", "content": "Hi"}], max_tokens=4)  # warm-up
        tokens = client.usage.completion_tokens
        started = time.perf_counter()
        await asyncio.gather(*(client.chat([{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}],
                                           max_tokens=max_tokens, temperature=0.7, seed=i)
                               for i in range(requests)))
        dt = time.perf_counter() - started
        return requests / dt, (client.usage.completion_tokens - tokens) / dt
    finally:
        await client.aclose()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vllm-python", help="python of a venv with vllm-cpu / vllm")
    ap.add_argument("--requests", type=int, default=32)
    ap.add_argument("--max-tokens", type=int, default=64)
    args = ap.parse_args()
    backends = [("transformers", sys.executable)]
    if args.vllm_python:
        backends.append(("vllm", args.vllm_python))
    if importlib.util.find_spec("llama_cpp"):
        backends.append(("llama.cpp", sys.executable))
    results: dict[tuple[str, int], tuple[float, float]] = {}
    with tempfile.TemporaryDirectory() as d:
        for backend, python in backends:
            proc, url = serve(python, backend, Path(d))
            try:
                for c in (1, 8, 32):
                    n = max(args.requests, c) if c > 1 else max(4, args.requests // 8)
                    results[(backend, c)] = asyncio.run(drive(url, c, n, args.max_tokens))
            finally:
                proc.terminate()
                proc.wait(timeout=60)
    print(f"{'backend':<13}{'conc':>5}{'req/s':>9}{'tok/s':>9}{'tok/s vs transformers':>24}")
    for (backend, c), (rps, tps) in results.items():
        base = results[("transformers", c)][1]
        print(f"{backend:<13}{c:>5}{rps:>9.2f}{tps:>9.1f}{tps / base:>23.2f}x")


if __name__ == "__main__":
    main()
