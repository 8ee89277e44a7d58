"""`judge`: measure a behaviour scorer's errors on labelled responses."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.common import CLIError, add_actions, add_command, json_flag, positive_int, settings_of


def cmd_calibrate(args: argparse.Namespace) -> int:
    from app.core.behaviours.calibrate import LabelsError, calibrate, read_labels
    from app.core.behaviours.registry import build_behaviour
    from app.core.stats.judge_error import JudgeError
    from app.core.surf.loader import SpecFileError, load_spec_file
    from app.services.auditor import auditor_for

    try:
        spec = load_spec_file(Path(args.spec))
        items = read_labels(Path(args.labels))
    except (SpecFileError, LabelsError, OSError) as exc:
        raise CLIError(str(exc)) from None
    if args.behaviour not in spec.behaviours:
        raise CLIError(f"--behaviour {args.behaviour!r} is not in {args.spec} "
                       f"(it has {', '.join(spec.behaviours)})")
    b = spec.behaviours[args.behaviour]
    settings = settings_of(args)
    client = auditor_for(settings, b.needs_auditor())
    if b.needs_auditor() and client is None:
        raise CLIError(f"behaviour {args.behaviour!r} is judged by the auditor model: set "
                       "SURFTURF_AUDITOR_URL and SURFTURF_AUDITOR_MODEL")
    scorer = build_behaviour(*b.scorer(), client=client)
    got = asyncio.run(calibrate(scorer, items, args.concurrency))
    err = JudgeError(tp=got["tp"], fn=got["fn"], tn=got["tn"], fp=got["fp"])
    if err.tp + err.fn == 0 or err.tn + err.fp == 0:
        raise CLIError(f"the scorer scored too few items to measure both error rates ({got['unscored'][:3]})")
    doc: dict[str, Any] = {"behaviour": args.behaviour, "scorer": b.scorer()[0], "labels": args.labels,
                           **err.summary(), "unscored": got["unscored"],
                           "disagreements": got["disagreements"]}
    out = Path(args.out or f"{args.behaviour}.calibration.json")
    out.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        s, p = doc["sensitivity_ci"], doc["specificity_ci"]
        print(f"{args.behaviour} ({doc['scorer']}) on {len(items)} labelled responses: sensitivity "
              f"{err.sensitivity:.2f} [{s[0]:.2f}, {s[1]:.2f}] ({err.tp}/{err.tp + err.fn}), specificity "
              f"{err.specificity:.2f} [{p[0]:.2f}, {p[1]:.2f}] ({err.tn}/{err.tn + err.fp}); "
              f"{len(got['unscored'])} unscored")
        for d in got["disagreements"][:5]:
            print(f"  {args.labels}:{d['line']}: labelled {str(d['label']).lower()}, scored "
                  f"{str(not d['label']).lower()}: {d['response'][:80]!r}")
    print(f"written: {out} (refer to it from the spec: behaviours.{args.behaviour}.calibration: "
          f"{out.name})", file=sys.stderr)
    return 0


def register(sub: Any) -> None:
    j = add_actions(sub, "judge", "measure a behaviour scorer's errors (judges and regexes alike)")
    c = add_command(j, "calibrate", "sensitivity and specificity of a behaviour's scorer on labelled "
                    "responses; the file a spec's `calibration` refers to", cmd_calibrate)
    c.add_argument("spec", metavar="SPEC", help="the probe spec that defines the behaviour")
    c.add_argument("--behaviour", required=True, help="the behaviour to calibrate")
    c.add_argument("--labels", required=True, help="JSONL: {prompt, response, label: true|false} per line")
    c.add_argument("--out", help="the calibration file (default: BEHAVIOUR.calibration.json)")
    c.add_argument("--concurrency", type=positive_int, default=8, help="scorer calls in flight")
    json_flag(c, "the calibration")
