"""`search` (run, show, list, confirm, cancel, schema): SURF's adaptive search from the terminal."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.common import CLIError, add_actions, add_command, json_flag, positive_int, settings_of


def _schema(args: argparse.Namespace) -> int:
    from app.core.behaviours.rubric import Rubric
    from app.core.search.result import SearchResult
    from app.core.search.spec import SearchSpec

    model = Rubric if args.rubric else SearchResult if args.result else SearchSpec
    print(json.dumps(model.model_json_schema(), indent=2))
    return 0


def _list(args: argparse.Namespace) -> int:
    from app.embedded import ME, with_session
    from app.searches import use_cases as searches

    rows = with_session(settings_of(args), lambda s: [
        (r.id, r.name, r.result is not None, r.created_at) for r in searches.list_searches(
            s, ME, limit=args.limit, offset=0)])
    for sid, name, done, created in rows:
        print(f"{sid}  {created:%Y-%m-%d %H:%M}  {'completed' if done else 'unfinished':<10}  {name}")
    return 0


def _confirm(args: argparse.Namespace) -> int:
    from app.cli.common import write_report
    from app.embedded import confirm_search_embedded

    report = confirm_search_embedded(
        settings_of(args), args.id, top_k=args.top_k, samples_per_prompt=args.samples_per_prompt,
        attributes=args.attributes.split(",") if args.attributes else None)
    write_report(report, args.out, as_json=args.json)
    return 0


def _cancel(args: argparse.Namespace) -> int:
    from app.embedded import ME, with_session
    from app.searches import use_cases as searches

    status = with_session(settings_of(args), lambda s: searches.cancel(s, args.id, ME).status)
    print(f"search {args.id}: {'cancelled' if status == 'cancelled' else 'cancel requested'}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from app.embedded import ME, with_session
    from app.searches import use_cases as searches

    settings = settings_of(args)
    doc = with_session(settings, lambda s: searches.result(s, args.id, ME))
    if args.output_dir:
        _surf_layout(settings, doc, Path(args.output_dir))
    _write(doc, args.out, args.json)
    return 0


def _run(args: argparse.Namespace) -> int:
    from app.core.search.loader import load_search_file
    from app.core.surf.loader import SpecFileError
    from app.embedded import run_search_embedded

    if args.spec is None and not (args.rubric and args.attributes):
        raise CLIError("search run: give a SPEC file, or SURF's --rubric and --attributes (or both: "
                       "flags override the spec)")
    settings = _models(settings_of(args), args)
    url, model = _model(args.target_model, "--target-model")
    target_url = args.target_url or url
    if target_url is None:
        raise CLIError("search run: give --target-url, or --target-model as http://HOST:PORT/v1:MODEL")
    try:
        spec = load_search_file(Path(args.spec) if args.spec else None, _overrides(args))
        records = _read_records(spec)
    except (SpecFileError, OSError) as exc:
        raise CLIError(str(exc)) from None
    doc = run_search_embedded(settings, spec, target_url=target_url, target_model=model,
                              api_key_env=args.target_api_key_env, records=records)
    if doc is None:
        return 1
    if args.output_dir:
        _surf_layout(settings, doc, Path(args.output_dir))
    _write(doc, args.out, args.json)
    return 0


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    """SURF's flags as spec values (flags > spec > the SURF rubric's settings > defaults)."""
    out: dict[str, Any] = {}
    if args.rubric:
        out["judge"] = {"rubric": args.rubric}
    if args.attributes:
        out["attributes_file"] = args.attributes
    if args.attribute_column:
        out["attribute_column"] = args.attribute_column
    flags = (("iterations", args.iterations), ("candidates_per_iteration", args.candidates),
             ("runs", args.num_runs), ("buffer_size", args.buffer_size))
    budget = {k: v for k, v in flags if v is not None}
    if budget:
        out["budget"] = budget
    return out


def _read_records(spec: Any) -> Any:
    """SURF's attribute records, read here: the server reads no files of yours."""
    if spec.attributes_file is None:
        return None
    import time

    from app.core.search.records import read_records

    started = time.perf_counter()
    records = read_records(Path(spec.attributes_file), spec.attribute_column)
    print(f"attribute records: {records.n_records:,} records, {records.n_attributes:,} distinct attributes "
          f"in `{spec.attribute_column}`, read in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return records


def _model(value: str, flag: str) -> tuple[str | None, str]:
    from app.core.llm.model_ref import parse_model

    try:
        return parse_model(value)
    except ValueError as exc:
        raise CLIError(f"{flag}: {exc}") from None


def _models(settings: Any, args: argparse.Namespace) -> Any:
    """--judge-model is the auditor for this run (it judges, and rewrites in the confirmation);
    --query-model writes the search's queries. Bare names keep the configured auditor URL."""
    update: dict[str, Any] = {}
    if args.judge_model:
        url, model = _model(args.judge_model, "--judge-model")
        if url is None and settings.auditor_engine == "http" and not settings.auditor_url:
            raise CLIError("--judge-model: no SURFTURF_AUDITOR_URL is set; give http://HOST:PORT/v1:MODEL")
        update.update(auditor_model=model, **({"auditor_url": url, "auditor_engine": "http"} if url else {}))
    if args.query_model:
        url, model = _model(args.query_model, "--query-model")
        if url is None and not (update.get("auditor_url") or settings.auditor_url):
            raise CLIError("--query-model: no auditor URL to use; give http://HOST:PORT/v1:MODEL")
        update.update(query_model=model, query_url=url or update.get("auditor_url") or settings.auditor_url)
    return settings.model_copy(update=update) if update else settings


def _surf_layout(settings: Any, doc: dict[str, Any], out: Path) -> None:
    from app.embedded import ME, with_session
    from app.searches import use_cases as searches

    files = with_session(settings, lambda s: searches.write_surf_layout(s, settings, doc["search_id"], ME,
                                                                        out))
    (out / "search.json").write_text(json.dumps(doc, indent=2), encoding="utf-8")
    print(f"SURF's results layout written to {out} ({len(files)} files, and search.json)", file=sys.stderr)


def _write(doc: dict[str, Any], out: str | None, as_json: bool) -> None:
    if out:
        Path(out).write_text(json.dumps(doc, indent=2), encoding="utf-8")
    if as_json:
        print(json.dumps(doc, indent=2))
        return
    print(discoveries_table(doc))
    if out:
        print(f"search result written to {out}", file=sys.stderr)


def discoveries_table(doc: dict[str, Any]) -> str:
    u = doc["usage"]
    lines = [f"search '{doc['name']}' ({doc['search_id']}): {u['candidates']} candidates, "
             f"{u['target_calls']} target calls, {u['auditor_calls']} auditor calls; {doc['stopped']}",
             f"{'rank':<5}{'attribute':<28}{'mean score':>11}  {'95% CI':<15}{'n':>5}  confirmation"]
    found = {d["attribute"]: d for d in doc["discoveries"]}
    for r in doc["ranking"][:10]:
        ci = f"[{r['ci_low']:.0f}, {r['ci_high']:.0f}]" if r["ci_low"] is not None else ""
        mean = f"{r['mean_score']:.1f}" if r["mean_score"] is not None else "—"
        d = found.get(r["attribute"])
        verdict = ""
        if d is not None and d["confirmed"] is not None:
            verdict = (f"{'CONFIRMED' if d['confirmed'] else 'not confirmed'}: effect {d['effect']:+.2f} "
                       f"[{d['ci_low']:+.2f}, {d['ci_high']:+.2f}] {d['verdict']}"
                       if d.get("effect") is not None else "not confirmed")
        lines.append(f"{r['rank']:<5}{r['attribute'][:27]:<28}{mean:>11}  {ci:<15}{r['n']:>5}  {verdict}")
    conf = doc.get("confirmation")
    if conf:
        lines.append(f"confirmation audit {conf['audit_id']} ({conf['status']}) on {conf['prompts']} "
                     "held-out prompts")
    return "\n".join(lines)


def register(sub: Any) -> None:
    from app.cli.audit import target_flags

    acts = add_actions(sub, "search", "SURF adaptive search: discover triggers, then confirm them")
    r = add_command(acts, "run", "search a target for triggers, then confirm the top ones", _run)
    r.add_argument("spec", metavar="SPEC", nargs="?", help="the search spec file (YAML or JSON); "
                   "optional with SURF's --rubric and --attributes")
    target_flags(r, model_strings=True)
    r.add_argument("--out", help="write search.json here")
    json_flag(r, "search.json")
    surf = r.add_argument_group("SURF's flags (each overrides the spec; README: Coming from SURF)")
    surf.add_argument("-r", "--rubric", metavar="FILE", help="the judge's rubric (SURF's YAML or surfturf's)")
    surf.add_argument("-a", "--attributes", metavar="PATH", help="the pool: SURF's attribute records "
                      "(JSONL, Parquet or a folder of them) or surfturf's JSONL")
    surf.add_argument("--attribute-column", metavar="C", help="the records' attribute column "
                      "(default sae_attributes)")
    surf.add_argument("-n", "--iterations", type=positive_int, metavar="N", help="iterations per run")
    surf.add_argument("--candidates", type=positive_int, metavar="N", help="candidates per iteration")
    surf.add_argument("--num-runs", type=positive_int, metavar="N", help="independent runs")
    surf.add_argument("--buffer-size", type=positive_int, metavar="N", help="replay buffer size")
    surf.add_argument("--query-model", metavar="M", help="writes the queries: a name on the auditor's "
                      "server or http://HOST:PORT/v1:MODEL (default: the auditor)")
    surf.add_argument("--judge-model", metavar="M", help="judges (and rewrites in the confirmation): a "
                      "name on the auditor's server or http://HOST:PORT/v1:MODEL (default: the auditor)")
    surf.add_argument("-o", "--output-dir", metavar="DIR", help="also write SURF's results layout here "
                      "(results.jsonl, summary.jsonl; runs/run_N/ and sweep_summary.json for several "
                      "runs) and search.json")
    sh = add_command(acts, "show", "a finished search's result (search.json)", _show)
    sh.add_argument("id", metavar="SEARCH_ID")
    sh.add_argument("--out", help="write search.json here")
    sh.add_argument("-o", "--output-dir", metavar="DIR", help="also write SURF's results layout here")
    json_flag(sh, "search.json")
    ls = add_command(acts, "list", "searches of the embedded database, newest first", _list)
    ls.add_argument("--limit", type=positive_int, default=50, help="how many")
    c = add_command(acts, "confirm", "a confirmation audit of a search's top (or chosen) attributes",
                    _confirm)
    c.add_argument("id", metavar="SEARCH_ID")
    c.add_argument("--top-k", type=positive_int, help="how many top attributes (default: the spec's)")
    c.add_argument("--attributes", metavar="ID[,ID…]", help="these attribute ids instead (comma-separated)")
    c.add_argument("--samples-per-prompt", type=positive_int, help="samples per prompt and cell")
    c.add_argument("--out", help="write the audit report here")
    json_flag(c, "the audit report")
    x = add_command(acts, "cancel", "stop a running search (and its confirmation audit)", _cancel)
    x.add_argument("id", metavar="SEARCH_ID")
    sc = add_command(acts, "schema", "the search spec's JSON Schema", _schema)
    which = sc.add_mutually_exclusive_group()
    which.add_argument("--result", action="store_true", help="the result's (search.json) schema instead")
    which.add_argument("--rubric", action="store_true", help="the rubric's schema instead (surfturf's and "
                       "SURF's keys; docs/rubric.schema.json)")
