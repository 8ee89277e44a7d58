"""`ingest` and `trace`: TURF from the terminal."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.common import CLIError, add_actions, add_command, json_flag, positive_int, settings_of
from app.core.text import fmt_q


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
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
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
        req.method = args.method
        result = trace_embedded(settings_of(args), req.model_dump(mode="json"))
    except (ValueError, OSError, SurfturfError) as exc:
        print(f"error: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    if result is None:
        return 1
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")
        print(f"trace written to {args.out}", file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(result["statement"])
    if result.get("attribute_trace"):
        at = result["attribute_trace"]
        print(f"by attributes: {at['statement']}")
        for cx in at["crux"]:
            top = cx["clusters"][0] if cx["clusters"] else None
            print(f"  crux '{cx['attribute']}': {cx['rows']} rows of its {cx['k']} nearest"
                  + (f"; most in '{top['summary']}' ({top['hits']}, {top['enrichment'] or 0:.1f}x base, "
                     f"q={fmt_q(top['q_value'])})" if top else ""))
    for c in result["chunks"][:5]:
        lo, hi = c["odds_ratio_ci"]
        print(f"  chunk {c['group']:<20} {c['hits']:>6}/{c['n_hits']:<6} base {c['base']:>6}/{c['n_all']:<6}"
              f" OR {c['odds_ratio']:7.1f} [{lo:.1f}, {hi:.1f}]  q={fmt_q(c['q_value'])}")
    return 0


def cmd_attributes(args: argparse.Namespace) -> int:
    from app.embedded import attributes_embedded
    from app.errors import SurfturfError

    params = {"rows": None if args.all else args.rows, "all": args.all, "per_row": args.per_row,
              "clusters": args.clusters, "max_auditor_calls": args.max_auditor_calls,
              "concurrency": args.concurrency, "engine": args.engine}
    try:
        out = attributes_embedded(settings_of(args), args.dataset, params)
    except SurfturfError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    if out is None:
        return 1
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    print(f"dataset {args.dataset}: {out['rows_described']}/{out['rows_wanted']} rows described "
          f"({out['rows_failed']} without usable attributes), {out['query_attributes']} query and "
          f"{out['response_attributes']} response attributes, {out['clusters']} query clusters; "
          f"{out['auditor_calls']} auditor calls"
          + (f"; stopped: {out['stopped']}" if out["stopped"] else ""))
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from app.datasets import use_cases as datasets
    from app.embedded import ME, with_session
    from app.schemas.datasets import DatasetRead
    from app.services import jobs

    def read(s: Any) -> Any:
        if args.action == "show":
            ds = datasets.get(s, args.id, ME)
            return DatasetRead.from_row(ds, jobs.job_of(s, ds)).model_dump(mode="json")
        return [DatasetRead.from_row(d, jobs.job_of(s, d)).model_dump(mode="json")
                for d in datasets.list_datasets(s, ME, limit=args.limit, offset=0)]

    out = with_session(settings_of(args), read)
    if args.json:
        print(json.dumps(out, indent=2))
    elif args.action == "show":
        print(f"dataset {out['name']} ({out['id']}): {out['status']}, {out['n_rows']} rows, "
              f"{out['meta'].get('n_clusters', '?')} prompt clusters, {len(out['skipped'])} lines skipped")
    else:
        print(f"{'id':<34}{'status':<11}{'rows':>9}  {'created':<20}name")
        for d in out:
            print(f"{d['id']:<34}{d['status']:<11}{d['n_rows']:>9}  {d['created_at'][:19]:<20}{d['name']}")
    return 0


def cmd_traces(args: argparse.Namespace) -> int:
    from app.datasets import traces
    from app.embedded import ME, with_session
    from app.schemas.traces import TraceRead
    from app.services import jobs

    def read(s: Any) -> Any:
        if args.action == "show":
            t = traces.get(s, args.id, ME)
            return TraceRead.from_row(t, jobs.job_of(s, t)).model_dump(mode="json")
        return [TraceRead.from_row(t, jobs.job_of(s, t)).model_dump(mode="json")
                for t in traces.list_traces(s, ME, limit=args.limit, offset=0)]

    out = with_session(settings_of(args), read)
    if args.json:
        print(json.dumps(out, indent=2))
    elif args.action == "show":
        print(f"trace {out['id']} of dataset {out['dataset_id']}: {out['status']}")
        if out["result"]:
            print(out["result"]["statement"])
    else:
        print(f"{'id':<34}{'status':<11}{'behaviour':<20}{'created':<20}dataset")
        for t in out:
            print(f"{t['id']:<34}{t['status']:<11}{t['request']['behaviour_name'][:19]:<20}"
                  f"{t['created_at'][:19]:<20}{t['dataset_id']}")
    return 0


def cmd_datasets_delete(args: argparse.Namespace) -> int:
    from app.datasets import use_cases as datasets
    from app.embedded import ME, with_session

    settings = settings_of(args)
    with_session(settings, lambda s: datasets.delete(s, settings, args.id, ME))
    print(f"deleted dataset {args.id}")
    return 0


def read_trace(path: str) -> dict[str, Any]:
    try:
        trace = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CLIError(f"{path}: not a trace result (surfturf trace … --out trace.json): {exc}") from None
    if not isinstance(trace, dict) or "chunks" not in trace:
        raise CLIError(f"{path}: not a trace result (surfturf trace … --out trace.json)")
    return trace


def cmd_ablate_data(args: argparse.Namespace) -> int:
    from app.core.turf.ablation import AblationError, Manifest, ablate_lines, traced_chunk, traced_trigger

    data, out = Path(args.data), Path(args.out)
    if data.resolve() == out.resolve():
        raise CLIError("--out must not be --data: the mix is read while the ablated one is written")
    trace = read_trace(args.trace)
    try:
        manifest = Manifest(chunk=traced_chunk(trace, args.chunk), mode=args.mode,
                            trigger=traced_trigger(trace) if args.mode == "carriers" else None)
        part = out.with_name(out.name + ".part")
        with data.open("rb") as src, part.open("wb") as dst:
            for line in ablate_lines(src, manifest, where=str(data)):
                dst.write(line)
    except (OSError, AblationError) as exc:
        Path(str(out) + ".part").unlink(missing_ok=True)
        raise CLIError(str(exc)) from None
    if not manifest.removed:
        part.unlink()
        raise CLIError(f"{data}: no row of chunk {manifest.chunk!r} matched (mode {args.mode}): nothing "
                       "to ablate; is this the mix the trace was made on?")
    part.replace(out)
    doc = {"trace": {"file": args.trace, "dataset": trace.get("dataset"), "behaviour": trace.get("behaviour"),
                     "statement": trace.get("statement")},
           "input": str(data), "output": str(out), **manifest.as_dict()}
    Path(str(out) + ".manifest.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    print(f"{out}: {manifest.rows_out} rows kept, {len(manifest.removed)} removed from chunk "
          f"{manifest.chunk!r} ({args.mode}); manifest {out}.manifest.json")
    return 0


def register(sub: Any) -> None:
    i = add_command(sub, "ingest", "ingest a post-training JSONL file (TURF; needs the embed extra: "
                    "make install-turf)", cmd_ingest)
    i.add_argument("file", help="JSONL: one {messages: [...], source?} per line")
    i.add_argument("--name", required=True, help="the dataset's name")
    i.add_argument("--on-error", choices=["skip", "reject"], default="reject",
                   help="a bad line: skip it (and list it) or reject the file")
    json_flag(i, "the dataset summary")
    t = add_command(sub, "trace", "trace a finding or behaviour back to the data (TURF)", cmd_trace)
    t.add_argument("--dataset", required=True, help="an ingested dataset (name or id)")
    t.add_argument("--behaviour", required=True, help="behaviour name (in the report, or your own)")
    t.add_argument("--report", help="audit report JSON: take the finding from it")
    t.add_argument("--feature", help="with --report: the finding's feature")
    t.add_argument("--level", help="with --report: the finding's level (default: largest effect)")
    t.add_argument("--scorer", help="without --report: a behaviour scorer id, e.g. emoji")
    t.add_argument("--regex", help="without --report: a regex scorer")
    t.add_argument("--example", action="append", help="a failing response (repeatable)")
    t.add_argument("--method", choices=["auto", "attributes", "groups"], default="auto",
                   help="attributes: also the paper's crux retrieval over the dataset's attributes "
                   "(turf attributes first); auto: when it has them (default: %(default)s)")
    t.add_argument("--out", help="write the trace JSON here")
    json_flag(t, "the trace result")
    turf = add_actions(sub, "turf", "TURF as published: LLM-written attributes of a dataset's rows")
    at = add_command(turf, "attributes", "the auditor describes rows (query and response attributes); "
                     "query attributes clustered and summarised, response attributes indexed", cmd_attributes)
    at.add_argument("--dataset", required=True, help="an ingested dataset (name or id)")
    which = at.add_mutually_exclusive_group()
    which.add_argument("--rows", type=positive_int, default=200,
                       help="rows to describe, drawn at random with seed 0 (default: %(default)s)")
    which.add_argument("--all", action="store_true", help="describe every row")
    at.add_argument("--per-row", type=positive_int, default=10, help="attributes of each kind per row "
                    "(default: %(default)s)")
    at.add_argument("--clusters", type=positive_int,
                    help="query clusters (default: from the attribute count)")
    at.add_argument("--max-auditor-calls", type=positive_int, help="stop describing once spent")
    at.add_argument("--concurrency", type=positive_int, default=8, help="auditor calls in flight "
                    "(per Ray actor with --engine ray; default: %(default)s)")
    at.add_argument("--engine", choices=["local", "ray"], default="local", help="ray: a Ray Data pipeline "
                    "(make install-ray; RAY_ADDRESS targets a cluster) (default: %(default)s)")
    json_flag(at, "the coverage")
    ad = add_command(turf, "ablate-data", "write a training mix without what a trace blamed (kept lines "
                     "verbatim) and a manifest of what was removed: retrain on it to test the trace",
                     cmd_ablate_data)
    ad.add_argument("--trace", required=True, help="trace.json (surfturf trace … --out)")
    ad.add_argument("--data", required=True, help="the mix the traced dataset was ingested from (JSONL)")
    ad.add_argument("--out", required=True, help="the ablated mix (JSONL); OUT.manifest.json beside it")
    ad.add_argument("--mode", choices=["drop", "carriers"], default="drop",
                    help="drop: every row of the traced chunk; carriers: only its rows whose prompt "
                    "carries the traced trigger attribute")
    ad.add_argument("--chunk", help="the chunk to remove (default: the trace's)")
    for group, fn in (("datasets", cmd_datasets), ("traces", cmd_traces)):
        acts = add_actions(sub, group, f"list, show{' or delete' if group == 'datasets' else ''} "
                           f"{group} (TURF)")
        ls = add_command(acts, "list", f"{group}, newest first", fn)
        ls.add_argument("--limit", type=positive_int, default=50, help="how many")
        json_flag(ls)
        sh = add_command(acts, "show", f"one of the {group}", fn)
        sh.add_argument("id", help="the id" + (" or the name" if group == "datasets" else ""))
        json_flag(sh)
        if group == "datasets":
            d = add_command(acts, "delete", "delete a dataset: its rows, index and files (not while "
                            "a trace or search uses it)", cmd_datasets_delete)
            d.add_argument("id", help="the dataset's id or name")
