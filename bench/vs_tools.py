"""The same work through surfturf, promptfoo and inspect_ai: every request of a factorial audit
(the rendered messages, one call each, a regex scored on every answer), sent at the same
concurrency to the same OpenAI-compatible target (a planted organism answering after
--latency-ms), each tool as a fresh process, timed from start to exit.

The other tools are optional and installed on demand into --tools-dir (not project
dependencies): inspect_ai and openai from PyPI into a venv, promptfoo from the npm registry.

usage: python bench/vs_tools.py [--items 2304] [--concurrency 16] [--runs 3] [--tools-dir DIR]
Prints each tool's median wall time and its ratio to surfturf (> 1: surfturf is faster).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit_vs_raw import (  # noqa: E402  (bench/ is on sys.path: run as a script)
    bodies,
    compile_project,
    spec_dict,
    start_target,
    workload_args,
)

from app.core.surf.spec import ProbeSpec  # noqa: E402
from tests import other_tools  # noqa: E402

SIGNOFF = "(?i)best regards"

INSPECT_TASK = """
import json
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageSystem, ChatMessageUser
from inspect_ai.scorer import pattern
from inspect_ai.solver import generate

ROLES = {"system": ChatMessageSystem, "user": ChatMessageUser}

@task
def organism():
    samples = []
    for line in open(%(path)r, encoding="utf-8"):
        body = json.loads(line)
        messages = [ROLES[m["role"]](content=m["content"]) for m in body["messages"]]
        samples.append(Sample(input=messages, target="Best regards"))
    return Task(dataset=samples, solver=generate(), scorer=pattern(%(regex)r))
"""


def install_tools(tools: Path) -> dict[str, list[str]]:
    """Command prefixes for each tool, installing what is missing (minutes, once)."""
    return {"inspect": other_tools.inspect_venv(tools), "promptfoo": other_tools.promptfoo(tools)}


def promptfoo_config(d: Path, reqs: list[dict[str, Any]], url: str) -> Path:
    """One test per request; the prompt is the request's own messages."""
    d.mkdir(parents=True, exist_ok=True)
    tests = [{"vars": {"messages": json.dumps(b["messages"])},
              "assert": [{"type": "regex", "value": SIGNOFF}]} for b in reqs]
    config = {
        "description": "surfturf bench",
        "prompts": ["{{ messages }}"],
        "providers": [{"id": "openai:chat:two-chunk",
                       "config": {"apiBaseUrl": url + "/v1", "apiKey": "bench", "temperature": 1.0,
                                  "max_tokens": 64}}],
        "tests": tests,
    }
    path = d / "promptfooconfig.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def main() -> None:
    ap = workload_args()
    ap.add_argument("--tools-dir", type=Path, default=other_tools.TOOLS)
    args = ap.parse_args()
    cmds = install_tools(args.tools_dir)
    raw_dict = spec_dict(args.items, args.concurrency)
    spec = ProbeSpec.model_validate(raw_dict)
    n = spec.work_item_count()
    reqs = asyncio.run(bodies(spec))
    compile_project()
    proc, url = start_target(args.latency_ms)
    times: dict[str, list[float]] = {"surfturf audit run": [], "promptfoo eval": [], "inspect eval": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp)
            (d / "spec.yaml").write_text(yaml.safe_dump(raw_dict), encoding="utf-8")
            with (d / "bodies.jsonl").open("w", encoding="utf-8") as fh:
                for b in reqs:
                    fh.write(json.dumps(b) + "\n")
            (d / "task.py").write_text(INSPECT_TASK % {"path": str(d / "bodies.jsonl"), "regex": SIGNOFF},
                                       encoding="utf-8")
            pf_config = promptfoo_config(d / "pf", reqs, url)
            env = {**other_tools.promptfoo_env(d / "pf-home"), "OPENAI_API_KEY": "bench",
                   "OPENAI_BASE_URL": url + "/v1", "INSPECT_LOG_DIR": str(d / "inspect-logs")}
            for run in range(args.runs):
                ours = [sys.executable, "-m", "app.cli", "--data-dir", str(d / f"data{run}"), "audit",
                        "run", str(d / "spec.yaml"), "--target-url", url + "/v1", "--target-model",
                        "two-chunk", "--new", "--out", str(d / f"r{run}.json")]
                times["surfturf audit run"].append(_counted(url, n, ours, dict(os.environ), ROOT))
                report = json.loads((d / f"r{run}.json").read_text(encoding="utf-8"))
                assert report["totals"]["completed"] == n, report["totals"]
                pf = cmds["promptfoo"] + ["eval", "-c", str(pf_config), "--no-cache", "--no-progress-bar",
                                          "--max-concurrency", str(args.concurrency),
                                          "-o", str(d / f"pf{run}.json")]
                times["promptfoo eval"].append(_counted(url, n, pf, env, d / "pf"))
                ins = cmds["inspect"] + ["eval", "task.py", "--model", "openai/two-chunk",
                                         "-M", "responses_api=false",  # chat completions, as the others
                                         "--max-connections", str(args.concurrency),
                                         "--temperature", "1.0", "--max-tokens", "64",
                                         "--display", "none", "--no-log-samples"]
                times["inspect eval"].append(_counted(url, n, ins, env, d))
    finally:
        proc.terminate()
        proc.wait()
    ours = statistics.median(times["surfturf audit run"])
    print(f"requests={n} concurrency={args.concurrency} target latency={args.latency_ms:g} ms "
          f"runs={args.runs} (median)")
    for label, runs in times.items():
        t = statistics.median(runs)
        print(f"{label:20s} {t:7.2f} s  {n / t:7.0f} req/s  {t / ours:5.2f}x surfturf's time  "
              f"{[round(x, 2) for x in runs]}")


def _answered(url: str) -> int:
    return int(httpx.get(url + "/health", timeout=5).json()["requests"])


def _counted(url: str, n: int, cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    """Time one tool's run and check at the target that it sent every request (surfturf adds one
    preflight call)."""
    label = Path(cmd[0]).name
    before = _answered(url)
    elapsed = _timed_env(cmd, env, cwd)
    sent = _answered(url) - before
    if not n <= sent <= n + 1:
        raise SystemExit(f"{label} sent {sent} requests, expected {n}")
    return elapsed


def _timed_env(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 100):  # promptfoo exits 100 when assertions fail: that is a result
        raise SystemExit(f"{cmd[0]} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    return elapsed


if __name__ == "__main__":
    main()
