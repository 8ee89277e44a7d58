"""`search` (run, show, list, confirm, cancel, schema): SURF's adaptive search from the terminal."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.common import CLIError, settings_of


def cmd_search(args: argparse.Namespace) -> int:
    if args.action == "schema":
        from app.core.search.result import SearchResult
        from app.core.search.spec import SearchSpec

        model = SearchResult if args.result else SearchSpec
        print(json.dumps(model.model_json_schema(), indent=2))
        return 0
    if args.action == "run":
        return _run(args)
    from app.embedded import ME, with_session
    from app.services import searches

    if args.action == "list":
        rows = with_session(settings_of(args), lambda s: [
            (r.id, r.name, r.result is not None, r.created_at) for r in searches.list_searches(
                s, ME, limit=args.limit, offset=0)])
        for sid, name, done, created in rows:
            print(f"{sid}  {created:%Y-%m-%d %H:%M}  {'completed' if done else 'unfinished':<10}  {name}")
        return 0
    if not args.spec:
        raise CLIError(f"search {args.action} needs a SEARCH_ID (surfturf search list)")
    if args.action == "confirm":
        from app.cli.common import write_report
        from app.embedded import confirm_search_embedded

        report = confirm_search_embedded(
            settings_of(args), args.spec, top_k=args.top_k, samples_per_prompt=args.samples_per_prompt,
            attributes=args.attributes.split(",") if args.attributes else None)
        write_report(report, args.out, as_json=args.json)
        return 0 if report is not None else 1
    if args.action == "cancel":
        status = with_session(settings_of(args), lambda s: searches.cancel(s, args.spec, ME).status)
        print(f"search {args.spec}: {'cancelled' if status == 'cancelled' else 'cancel requested'}")
        return 0
    doc = with_session(settings_of(args), lambda s: searches.result(s, args.spec, ME))
    _write(doc, args.out, args.json)
    return 0


def _run(args: argparse.Namespace) -> int:
    from app.core.search.loader import load_search_file
    from app.core.surf.loader import SpecFileError
    from app.embedded import run_search_embedded

    if not args.spec:
        raise CLIError("search run needs SPEC (a search spec file)")
    if not args.target_url or not args.target_model:
        raise CLIError("search run needs --target-url and --target-model")
    try:
        spec = load_search_file(Path(args.spec))
    except (SpecFileError, OSError) as exc:
        raise CLIError(str(exc)) from None
    doc = run_search_embedded(settings_of(args), spec, target_url=args.target_url,
                              target_model=args.target_model, api_key_env=args.target_api_key_env)
    if doc is None:
        return 1
    _write(doc, args.out, args.json)
    return 0


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
    s = sub.add_parser("search", help="SURF adaptive search: discover triggers, then confirm them")
    s.add_argument("action", choices=["run", "show", "list", "confirm", "cancel", "schema"])
    s.add_argument("spec", nargs="?", metavar="SPEC|SEARCH_ID",
                   help="run: the search spec file; show/confirm/cancel: the search id")
    s.add_argument("--top-k", type=int, help="confirm: how many top attributes (default: the spec's)")
    s.add_argument("--attributes", help="confirm: these attribute ids instead (comma-separated)")
    s.add_argument("--samples-per-prompt", type=int, help="confirm: samples per prompt and cell")
    s.add_argument("--target-url")
    s.add_argument("--target-model")
    s.add_argument("--target-api-key-env", help="env var holding the target's API key")
    s.add_argument("--out", help="run/show: write search.json here; confirm: the audit report")
    s.add_argument("--result", action="store_true", help="schema: the result's (search.json) schema")
    s.add_argument("--limit", type=int, default=50, help="list: how many (newest first)")
    s.add_argument("--json", action="store_true", help="print search.json on stdout")
    s.set_defaults(fn=cmd_search)
