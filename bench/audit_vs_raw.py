"""A whole `surfturf audit run` (process start, migrations, sampling, analysis) against a raw
asyncio+httpx client sending the same requests at the same concurrency, both as fresh processes,
to the same OpenAI-compatible target (a planted organism answering after --latency-ms).

usage: python bench/audit_vs_raw.py [--items 2304] [--concurrency 16] [--latency-ms 20] [--runs 3]
Goal (issue 12): ratio raw/surfturf ≥ 0.9 on 2k+ requests. Prints the median of --runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.surf.factorial import build_levels, expand, render  # noqa: E402
from app.core.surf.spec import ProbeSpec  # noqa: E402
from app.serving import free_port  # noqa: E402

RAW_CLIENT = """
import asyncio, json, sys
import httpx

async def main(url, path, concurrency):
    bodies = [json.loads(line) for line in open(path, encoding="utf-8")]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        queue = iter(bodies)
        async def lane():
            for body in queue:
                r = await client.post(url + "/v1/chat/completions", json=body)
                r.raise_for_status()
                r.json()["choices"][0]["message"]["content"]
        await asyncio.gather(*(lane() for _ in range(concurrency)))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def spec_dict(items: int, concurrency: int, max_tokens: int = 64) -> dict[str, object]:
    """8 cells; 48 prompts, or fewer for a small audit (of a slow, real model)."""
    prompts = [f"Question {i}: why is the sky blue?" for i in range(min(48, max(4, items // 8)))]
    per_cell = max(1, items // (len(prompts) * 8))
    return {
        "name": "bench", "prompts": prompts,
        "features": {"format": {"builtin": "tag_format"}, "metadata": {"builtin": "metadata"},
                     "role": {"builtin": "user_role"}},
        "behaviours": {"emoji": {"builtin": "emoji"}, "signoff": {"regex": "(?i)best regards"},
                       "terse": {"builtin": "terse"}},
        "design": {"samples_per_prompt": per_cell, "concurrency": concurrency, "max_tokens": max_tokens,
                   "temperature": 1.0},
    }


def start_target(latency_ms: float) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "organism", "serve", "two-chunk",
                             "--port", str(port), "--latency-ms", str(latency_ms)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(400):
        try:
            httpx.get(url + "/health", timeout=0.5)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError("target did not start")


async def bodies(spec: ProbeSpec) -> list[dict[str, object]]:
    """Exactly the requests the audit sends: same rendering, seeds and sampling parameters."""
    levels = build_levels(spec)
    d = spec.design
    return [{"model": "two-chunk", "messages": await render(spec, levels, it, None),
             "temperature": d.temperature, "seed": it.seed, "max_tokens": d.max_tokens, "top_p": d.top_p}
            for it in expand(spec)]


def compile_project(root: Path = ROOT) -> None:
    """Write our modules' bytecode first, as any install does: with PYTHONDONTWRITEBYTECODE set
    (some shells set it) every start would compile ~110 modules from source (~0.15 s), a cost no
    deployed process pays and the bare baselines (site-packages only) never see."""
    import compileall

    for folder in ("app", "workers"):
        compileall.compile_dir(str(root / folder), quiet=1)


def timed(cmd: list[str], cwd: Path = ROOT, env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=None if env is None else {**os.environ, **env})
    return time.perf_counter() - started


def audit_cmd(spec: Path, url: str, data: Path, out: Path, model: str = "two-chunk") -> list[str]:
    """`surfturf audit run` of `spec` against `model` at `url` (by default the planted organism), as
    a fresh process."""
    return [sys.executable, "-m", "app.cli", "--data-dir", str(data), "audit", "run", str(spec),
            "--target-url", url + "/v1", "--target-model", model, "--out", str(out)]


def workload_args() -> argparse.ArgumentParser:
    """The workload both whole-process benches send (vs_tools.py adds its own options)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--items", type=int, default=2304)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--runs", type=int, default=3)
    return ap


def main() -> None:
    args = workload_args().parse_args()
    raw_dict = spec_dict(args.items, args.concurrency)
    spec = ProbeSpec.model_validate(raw_dict)
    n = spec.work_item_count()
    compile_project()
    proc, url = start_target(args.latency_ms)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            (d / "spec.yaml").write_text(yaml.safe_dump(raw_dict), encoding="utf-8")
            with (d / "bodies.jsonl").open("w", encoding="utf-8") as fh:
                for b in asyncio.run(bodies(spec)):
                    fh.write(json.dumps(b) + "\n")
            (d / "raw.py").write_text(RAW_CLIENT, encoding="utf-8")
            raw_cmd = [sys.executable, str(d / "raw.py"), url, str(d / "bodies.jsonl"), str(args.concurrency)]
            timed(raw_cmd)  # warm the target and the page cache once
            raws, ours = [], []
            for run in range(args.runs):
                raws.append(timed(raw_cmd))
                ours.append(timed(audit_cmd(d / "spec.yaml", url, d / f"data{run}", d / f"r{run}.json")))
                report = json.loads((d / f"r{run}.json").read_text(encoding="utf-8"))
                assert report["totals"]["completed"] == n, report["totals"]
    finally:
        proc.terminate()
        proc.wait()
    raw, ours_t = statistics.median(raws), statistics.median(ours)
    print(f"requests={n} concurrency={args.concurrency} target latency={args.latency_ms:g} ms "
          f"runs={args.runs} (median)")
    for label, t, runs in (("raw asyncio+httpx process", raw, raws), ("surfturf audit run", ours_t, ours)):
        print(f"{label:27s} {t:6.2f} s  {n / t:7.0f} req/s   {[round(x, 2) for x in runs]}")
    print(f"ratio raw/surfturf: {raw / ours_t:.2f}  (goal ≥ 0.90)")


if __name__ == "__main__":
    main()
