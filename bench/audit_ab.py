"""A whole `surfturf audit run` of this checkout against the same command at another revision,
alternating, against one target: what a change did to an audit's wall time, measured in pairs
so that the machine's drift (which moves a raw client's time as much) cancels out.

usage: python bench/audit_ab.py [--base 0bb228a] [--pairs 12] [--items 2304] [--concurrency 16]
                                [--latency-ms 20]
The base revision runs from a temporary git worktree with this venv's packages (fine while the
dependencies are the same). Prints both medians and the median of the paired differences.
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


def audit_seconds(root: Path, spec: Path, url: str, data: Path, items: int) -> float:
    """One whole audit run from `root`'s code; its report must hold every sample."""
    seconds = timed(audit_cmd(spec, url, data, data / "report.json"), cwd=root)
    report = json.loads((data / "report.json").read_text(encoding="utf-8"))
    assert report["totals"]["completed"] == items, report["totals"]
    return seconds


def main() -> None:
    ap = workload_args()
    ap.add_argument("--base", default="HEAD~1", help="the revision to compare with")
    ap.add_argument("--pairs", type=int, default=12)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        base = d / "base"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), args.base], cwd=ROOT,
                       check=True)
        try:
            trees = {"this checkout": ROOT, f"base {args.base}": base}
            for root in trees.values():
                compile_project(root)
            spec = d / "spec.yaml"
            raw_spec = spec_dict(args.items, args.concurrency)
            spec.write_text(yaml.safe_dump(raw_spec), encoding="utf-8")
            n = ProbeSpec.model_validate(raw_spec).work_item_count()
            proc, url = start_target(args.latency_ms)
            times: dict[str, list[float]] = {name: [] for name in trees}
            try:
                for i in range(args.pairs):
                    for j, (name, root) in enumerate(trees.items()):
                        times[name].append(audit_seconds(root, spec, url, d / f"data-{i}-{j}", n))
            finally:
                proc.terminate()
                proc.wait()
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=ROOT, check=True)
    ours, theirs = times.values()
    print(f"audit of {args.items} requests, concurrency {args.concurrency}, target latency "
          f"{args.latency_ms:g} ms, {args.pairs} alternating pairs (medians)")
    for name, t in times.items():
        print(f"{name:24s} {statistics.median(t):6.3f} s   {[round(x, 2) for x in t]}")
    diff = statistics.median(b - a for a, b in zip(ours, theirs, strict=True))
    ratio = statistics.median(theirs) / statistics.median(ours)
    print(f"base minus this checkout: {1000 * diff:+.0f} ms (median of pairs; > 0: this checkout is "
          f"faster); ratio base/this {ratio:.3f}")


if __name__ == "__main__":
    main()
