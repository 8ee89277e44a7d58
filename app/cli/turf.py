"""`ingest` and `trace`: TURF from the terminal."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.common import settings_of


def cmd_ingest(args: argparse.Namespace) -> int:
    from app.embedded import ingest_embedded
    from app.errors import SurfturfError

    try:
        out = ingest_embedded(settings_of(args), Path(args.file), args.name, args.on_error)
    except SurfturfError as exc:
        print(f"error: {args.file}: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if out is None:
        return 1
    for bad in out["skipped"]:
        print(f"{args.file}:{bad['line']}: skipped: {bad['error']}", file=sys.stderr)
    print(f"dataset {out['name']} ({out['id']}): {out['rows']} rows, "
          f"{out['meta'].get('n_clusters')} prompt clusters, index {out['meta'].get('index_type')}")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from app.core.turf.request import TraceExample, TraceRequest, from_report
    from app.embedded import trace_embedded
    from app.errors import SurfturfError

    try:
        if args.report:
            report = json.loads(Path(args.report).read_text(encoding="utf-8"))
            req = from_report(report, args.dataset, args.feature, args.behaviour, args.level)
        else:
            examples = [TraceExample(response=r) for r in args.example or []]
            behaviour = {"regex": args.regex} if args.regex else (
                {"builtin": args.scorer} if args.scorer else None)
            req = TraceRequest.model_validate({"dataset": args.dataset, "behaviour_name": args.behaviour,
                                               "behaviour": behaviour, "examples": examples})
        result = trace_embedded(settings_of(args), req.model_dump(mode="json"))
    except (KeyError, ValueError, OSError, SurfturfError) as exc:
        print(f"error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    if result is None:
        return 1
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")
        print(f"trace written to {args.out}")
    print(result["statement"])
    for c in result["chunks"][:5]:
        lo, hi = c["odds_ratio_ci"]
        print(f"  chunk {c['group']:<20} {c['hits']:>6}/{c['n_hits']:<6} base {c['base']:>6}/{c['n_all']:<6}"
              f" OR {c['odds_ratio']:7.1f} [{lo:.1f}, {hi:.1f}]  q={c['q_value']:.2g}")
    return 0


def register(sub: Any) -> None:
    i = sub.add_parser("ingest", help="ingest a post-training JSONL file (TURF)")
    i.add_argument("file")
    i.add_argument("--name", required=True)
    i.add_argument("--on-error", choices=["skip", "reject"], default="reject")
    i.set_defaults(fn=cmd_ingest)
    t = sub.add_parser("trace", help="trace a finding or behaviour back to the data (TURF)")
    t.add_argument("--dataset", required=True)
    t.add_argument("--behaviour", required=True, help="behaviour name (in the report, or your own)")
    t.add_argument("--report", help="audit report JSON: take the finding from it")
    t.add_argument("--feature", help="with --report: the finding's feature")
    t.add_argument("--level", help="with --report: the finding's level (default: largest effect)")
    t.add_argument("--scorer", help="without --report: a behaviour scorer id, e.g. emoji")
    t.add_argument("--regex", help="without --report: a regex scorer")
    t.add_argument("--example", action="append", help="a failing response (repeatable)")
    t.add_argument("--out", help="write the trace JSON here")
    t.set_defaults(fn=cmd_trace)
