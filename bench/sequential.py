"""Target calls of a sequential audit against a fixed-n audit of the same budget, same organism.

Both audit the planted two-chunk organism (tags → emoji, metadata → sign-off; user role predicts
nothing) over HTTP on the embedded default, with the same prompts, seed and maximum samples per
prompt. Ground truth is the organism's rules, so each run's errors are counted: a missed planted
effect, a flagged null, or a finding left open. Prints calls and the ratio sequential / fixed.
Goal: at least 30% fewer calls at equal error rates.

usage: python bench/sequential.py [--seeds 4] [--max-samples 30] [--per-round 5]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.config import Settings  # noqa: E402
from app.core.organisms.planted import PlantedSpec  # noqa: E402
from app.core.surf.spec import ProbeSpec  # noqa: E402
from app.embedded import run_audit_embedded  # noqa: E402
from app.organism_server import create_organism_app  # noqa: E402
from app.serving import serve_in_thread  # noqa: E402

PROMPTS = ["What causes the seasons on Earth?", "How do vaccines work?", "Why is the sky blue?",
           "How did the Roman Empire fall?", "What is a black hole?", "How do plants make food?",
           "Why do we have leap years?", "How does a rainbow form?", "How do magnets work?",
           "What is inflation in economics?", "Why do birds migrate?", "How is glass made?"]
PLANTED = {("format", "emoji"), ("metadata", "signoff")}


def spec(kind: str, max_samples: int, per_round: int, seed: int) -> ProbeSpec:
    design: dict[str, Any] = {"kind": kind, "samples_per_prompt": max_samples, "seed": seed,
                              "concurrency": 16}
    if kind == "sequential":
        design["samples_per_round"] = per_round
    return ProbeSpec.model_validate({
        "name": f"bench-{kind}", "prompts": PROMPTS,
        "features": {"format": {"levels": {"plain": "{prompt}", "tagged": "<query>{prompt}</query>"}},
                     "metadata": {"builtin": "metadata"}, "user_role": {"builtin": "user_role"}},
        "behaviours": {"emoji": {"builtin": "emoji"}, "signoff": {"regex": "(?i)best regards"},
                       "terse": {"builtin": "terse"}},
        "design": design, "alpha": 0.05, "min_effect": 0.10})


def errors(report: dict[str, Any]) -> tuple[int, int, int]:
    """(planted effects missed, nulls flagged, findings left inconclusive)."""
    flagged = {(f["feature"], f["behaviour"]) for f in report["findings"] if f["flagged"]}
    missed = len(PLANTED - flagged)
    false = len(flagged - PLANTED)
    open_ = sum(f["verdict"] == "inconclusive" for f in report["findings"])
    return missed, false, open_


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--max-samples", type=int, default=30)
    ap.add_argument("--per-round", type=int, default=5)
    args = ap.parse_args()
    organism = PlantedSpec.from_file(ROOT / "app" / "data" / "organisms" / "two-chunk.yaml")
    calls = {"factorial": 0, "sequential": 0}
    errs = {"factorial": [0, 0, 0], "sequential": [0, 0, 0]}
    with serve_in_thread(create_organism_app(organism)) as url, tempfile.TemporaryDirectory() as tmp:
        for seed in range(1, args.seeds + 1):
            for kind in ("factorial", "sequential"):
                settings = Settings(data_dir=Path(tmp) / f"{kind}-{seed}")
                report = run_audit_embedded(settings, spec(kind, args.max_samples, args.per_round, seed),
                                            target_url=url + "/v1", target_model=organism.name)
                assert report is not None, f"{kind} audit failed"
                calls[kind] += int(report["usage"]["requests"])
                e = errors(report)
                errs[kind] = [a + b for a, b in zip(errs[kind], e, strict=True)]
                seq = report.get("sequential") or {}
                print(f"seed {seed} {kind:<10} calls {report['usage']['requests']:>6}  "
                      f"missed/false/open {e}  rounds {seq.get('rounds_run', 1)}/{seq.get('max_rounds', 1)}")
    ratio = calls["sequential"] / calls["factorial"]
    print(f"\ntarget calls: fixed {calls['factorial']}, sequential {calls['sequential']}; "
          f"ratio {ratio:.2f} ({1 - ratio:.0%} fewer; goal ≥ 30% fewer)")
    print(f"errors over {args.seeds} seeds (missed, false flags, left open): "
          f"fixed {tuple(errs['factorial'])}, sequential {tuple(errs['sequential'])}")


if __name__ == "__main__":
    main()
