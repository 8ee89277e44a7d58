"""A whole `surfturf audit run` of this checkout against the same command at another revision,
alternating, against one target: what a change did to an audit's wall time, measured in pairs
so that the machine's drift (which moves a raw client's time as much) cancels out.

usage: python bench/audit_ab.py [--base 0bb228a] [--pairs 12] [--items 2304] [--concurrency 16]
                                [--latency-ms 20] [--base-env SURFTURF_ANALYSIS_PROCESS=false]
                                [--target-url URL --target-model NAME] [--max-tokens 64]
The base revision runs from a temporary git worktree with this venv's packages (fine while the
dependencies are the same); `--base-env` sets variables for the base's runs only (a switch, such
as the analysis process's, against this checkout). `--target-url`: a running OpenAI-compatible
server (a real model: `surfturf models serve smollm2`) instead of the planted organism. Prints
both medians and the median of the paired differences.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from audit_vs_raw import (  # noqa: E402  (bench/ is on sys.path: run as a script)
    audit_cmd,
    compile_project,
    spec_dict,
    start_target,
    timed,
    workload_args,
)

from app.core.surf.spec import ProbeSpec  # noqa: E402


def audit_seconds(root: Path, spec: Path, url: str, model: str, data: Path, items: int,
                  env: dict[str, str] | None) -> float:
    """One whole audit run from `root`'s code; its report must hold every sample."""
    seconds = timed(audit_cmd(spec, url, data, data / "report.json", model), cwd=root, env=env)
    report = json.loads((data / "report.json").read_text(encoding="utf-8"))
    assert report["totals"]["completed"] == items, report["totals"]
    return seconds


def main() -> None:
    ap = workload_args()
    ap.add_argument("--base", default="HEAD~1", help="the revision to compare with")
    ap.add_argument("--pairs", type=int, default=12)
    ap.add_argument("--base-env", action="append", default=[], metavar="KEY=VALUE",
                    help="an environment variable for the base's runs only (repeatable)")
    ap.add_argument("--target-url", help="a running OpenAI-compatible server (without /v1)")
    ap.add_argument("--target-model", default="two-chunk")
    ap.add_argument("--max-tokens", type=int, default=64)
    args = ap.parse_args()
    base_env = dict(kv.split("=", 1) for kv in args.base_env)
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        base = d / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), args.base], cwd=ROOT,
                       check=True)
        try:
            label = " ".join([f"base {args.base}", *args.base_env])
            trees = {"this checkout": (ROOT, None), label: (base, base_env or None)}
            for root, _ in trees.values():
                compile_project(root)
            spec = d / "spec.yaml"
            raw_spec = spec_dict(args.items, args.concurrency, args.max_tokens)
            spec.write_text(yaml.safe_dump(raw_spec), encoding="utf-8")
            n = ProbeSpec.model_validate(raw_spec).work_item_count()
            proc, url = (None, args.target_url) if args.target_url else start_target(args.latency_ms)
            times: dict[str, list[float]] = {name: [] for name in trees}
            try:
                for i in range(args.pairs):
                    for j, (name, (root, env)) in enumerate(trees.items()):
                        times[name].append(audit_seconds(root, spec, url, args.target_model,
                                                         d / f"data-{i}-{j}", n, env))
            finally:
                if proc is not None:
                    proc.terminate()
                    proc.wait()
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=True)
    ours, theirs = times.values()
    target = (f"{args.target_model} at {args.target_url}" if args.target_url
              else f"target latency {args.latency_ms:g} ms")
    print(f"audit of {n} requests, concurrency {args.concurrency}, {target}, max_tokens "
          f"{args.max_tokens}, {args.pairs} alternating pairs (medians)")
    for name, t in times.items():
        print(f"{name:24s} {statistics.median(t):6.3f} s   {[round(x, 2) for x in t]}")
    diff = statistics.median(b - a for a, b in zip(ours, theirs, strict=True))
    ratio = statistics.median(theirs) / statistics.median(ours)
    print(f"base minus this checkout: {1000 * diff:+.0f} ms (median of pairs; > 0: this checkout is "
          f"faster); ratio base/this {ratio:.3f}")


if __name__ == "__main__":
    main()
