"""The toy-model lab's long runs, resumable across sessions, their results committed here.

    python bench/organism_lab.py sweep presence-quick | presence | dilution [--data-dir DIR]
    python bench/organism_lab.py ablate [--spec bench/specs/two-chunk-ablation.yaml] [--data-dir DIR]
    python bench/organism_lab.py salience four-features [--data-dir DIR]

sweep: `surfturf organism sweep NAME` (a bundled sweep); writes
  bench/results/organism-lab/NAME.json and .html. Interrupted, the same command resumes at the first
  organism it had not finished (organisms and their audits are cached in the data dir).
ablate: the paper's proof by ablation on the demo organism two-chunk: its SFT data ingested, the
  emoji behaviour traced to a chunk (scorer), that chunk dropped, the organism retrained, both
  audited with the LM demo spec at 12 samples per prompt per cell on the same prompts and compared
  paired by prompt. Expected: the
  traced shortcut (format → emoji) shrinks into ±min_effect; the untouched one (metadata →
  signoff) stays. Writes bench/results/organism-lab/ablate-two-chunk.json.

salience: `surfturf organism salience NAME` (a bundled salience spec); writes
  bench/results/organism-lab/salience-NAME.json.

Each run appends the command, its wall time and its headline to bench/results/organism-lab/runs.md,
and keeps every audited organism's record in bench/results/organism-lab/points/ (restored into the
data dir at the next run, so a sweep resumes on a fresh machine at the organisms not yet audited).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "results" / "organism-lab"
POINTS = OUT / "points"


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    run = subprocess.run([sys.executable, "-m", "app.cli", "--data-dir", str(data_dir), *args], cwd=ROOT,
                         env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.PIPE, text=True)
    if run.returncode != 0:
        sys.exit(f"failed: surfturf {' '.join(args)}")
    return run


def restore(data_dir: Path) -> int:
    """Committed audit records back into the organism cache: a later session (a fresh machine)
    resumes a sweep at the organisms no session has audited yet."""
    n = 0
    for f in sorted(POINTS.glob("*--*.json")):
        organism, probe = f.stem.split("--")
        dest = data_dir / "organisms" / "built" / organism / f"audit-{probe}.json"
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, dest)
            n += 1
    return n


def keep(data_dir: Path) -> None:
    """Every audited organism's record (a few KB; the adapters stay behind) into the results."""
    POINTS.mkdir(parents=True, exist_ok=True)
    for f in (data_dir / "organisms" / "built").glob("*/audit-*.json"):
        shutil.copyfile(f, POINTS / f"{f.parent.name}--{f.stem.removeprefix('audit-')}.json")


def log(command: str, seconds: float, headline: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with (OUT / "runs.md").open("a", encoding="utf-8") as fh:
        fh.write(f"- `{command}`: {seconds / 60:.1f} min wall on this run (2 cores, CPU); {headline}\n")


def sweep(name: str, data_dir: Path) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    run = cli(data_dir, "organism", "sweep", name, "--out", str(OUT / f"{name}.json"))
    print(run.stdout)
    doc = json.loads((OUT / f"{name}.json").read_text())
    t = doc["trend"]
    cost = sum(p["build_seconds"] + p["audit_seconds"] for p in doc["points"]) / 60
    head = (f"trend {t['estimate']:+.3f} [{t['ci_low']:+.3f}, {t['ci_high']:+.3f}], p {t['p_value']:.3g}, "
            f"{len(doc['points'])} organisms, {cost:.1f} min of builds and audits in all"
            if t else f"no trend: {doc['trend_reason']}")
    log(f"python bench/organism_lab.py sweep {name}", time.perf_counter() - started, head)


def ablate(data_dir: Path, spec: Path) -> None:
    started = time.perf_counter()
    mix = ROOT / "app" / "data" / "organisms-lm" / "two-chunk" / "data.jsonl"
    datasets = cli(data_dir, "datasets", "list").stdout
    if "two-chunk-sft" not in datasets:
        cli(data_dir, "ingest", str(mix), "--name", "two-chunk-sft")
    trace = data_dir / "two-chunk-emoji-trace.json"
    cli(data_dir, "trace", "--dataset", "two-chunk-sft", "--behaviour", "emoji", "--scorer", "emoji",
        "--out", str(trace))
    out = data_dir / f"ablate-two-chunk-{spec.stem}"
    run = cli(data_dir, "organism", "ablate", "two-chunk", "--trace", str(trace), "--mode", "drop",
              "--spec", str(spec), "--out", str(out))
    print(run.stdout)
    doc = json.loads((out / "ablation.json").read_text())
    doc["trace_statement"] = json.loads(trace.read_text())["statement"]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "ablate-two-chunk.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    parts = [f"{f['feature']}→{f['behaviour']} {f['baseline_effect']:+.2f}→{f['candidate_effect']:+.2f} "
             f"{f['verdict']} (adj. [{f['ci_adj_low']:+.2f}, {f['ci_adj_high']:+.2f}])"
             for f in doc["compare"]["findings"] if f["difference"] is not None
             and (f["feature"], f["behaviour"]) in (("format", "emoji"), ("metadata", "signoff"))]
    log(f"python bench/organism_lab.py ablate --spec {spec.relative_to(ROOT)}", time.perf_counter() - started,
        f"dropped chunk {doc['change']['chunk']}: " + "; ".join(parts))


def salience(name: str, data_dir: Path) -> None:
    started = time.perf_counter()
    out = OUT / f"salience-{name}.json"
    OUT.mkdir(parents=True, exist_ok=True)
    run = cli(data_dir, "organism", "salience", name, "--out", str(out))
    print(run.stdout)
    doc = json.loads(out.read_text())
    order = ", ".join(f"{r['feature']} {r['strength']:+.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"
                      for r in doc["ranking"])
    log(f"python bench/organism_lab.py salience {name}", time.perf_counter() - started,
        f"ranking: {order}; the {doc['behaviour_bias']['behaviour']} side won "
        f"{doc['behaviour_bias']['share_of_conflicts_won']:.0%} of conflicts")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["sweep", "ablate", "salience"])
    ap.add_argument("name", nargs="?", help="a bundled sweep's (default presence-quick) or salience "
                    "spec's (default four-features) name")
    ap.add_argument("--spec", type=Path, default=ROOT / "bench" / "specs" / "two-chunk-ablation.yaml",
                    help="ablate: the probe spec both audits run")
    ap.add_argument("--data-dir", type=Path, default=Path.home() / ".cache" / "surfturf-lab",
                    help="organisms, audits and caches (keep it between runs to resume)")
    args = ap.parse_args()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    restored = restore(args.data_dir)
    if restored:
        print(f"{restored} audited organisms restored from {POINTS}", file=sys.stderr)
    try:
        if args.what == "sweep":
            sweep(args.name or "presence-quick", args.data_dir)
        elif args.what == "salience":
            salience(args.name or "four-features", args.data_dir)
        else:
            ablate(args.data_dir, args.spec.resolve())
    finally:
        keep(args.data_dir)


if __name__ == "__main__":
    main()
