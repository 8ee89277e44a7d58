"""`audit` (run, analyze, export, schema) and `demo`: SURF from the terminal."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.common import (
    DATA,
    EXIT_FAILED,
    EXIT_GATE,
    CLIError,
    add_actions,
    add_command,
    concurrency,
    json_flag,
    positive_int,
    settings_of,
    write_report,
)
from app.cli.models import organism_path

if TYPE_CHECKING:
    from app.config import Settings


def _audit_schema(args: argparse.Namespace) -> int:
    from app.core.surf.spec import ProbeSpec

    print(json.dumps(ProbeSpec.model_json_schema(), indent=2))
    return 0


def _audit_run(args: argparse.Namespace) -> int:
    from app.core.surf.loader import SpecFileError, load_spec_file

    try:
        spec = load_spec_file(Path(args.spec))
    except (SpecFileError, OSError) as exc:
        raise CLIError(str(exc)) from None
    if args.samples:
        spec.design.samples_per_prompt = args.samples
    if args.concurrency:
        spec.design.concurrency = args.concurrency
    settings = settings_of(args)
    _start_analysis_process(settings)
    from app.embedded import run_audit_embedded

    if spec.design.concurrency > settings.target_max_concurrency:
        print(f"note: design.concurrency {spec.design.concurrency} is capped at "
              f"{settings.target_max_concurrency} by SURFTURF_TARGET_MAX_CONCURRENCY", file=sys.stderr)
    if args.fail_on in ("grew", "any") and not args.baseline:
        raise CLIError(f"--fail-on {args.fail_on} needs --baseline AUDIT_ID (the audit to compare with)")
    report = run_audit_embedded(settings, spec, target_url=args.target_url,
                                target_model=args.target_model, api_key_env=args.target_api_key_env,
                                new=args.new, baseline_audit_id=args.baseline)
    write_report(report, args.out, as_json=args.json)
    assert report is not None  # write_report exits on a failed audit
    tripped = [f"{f['feature']}={f['level']}→{f['behaviour']} miscalibrated" for f in report["findings"]
               if f["miscalibrated"] and args.fail_on in ("miscalibrated", "any")]
    if args.baseline:
        from app.audits import use_cases as audits
        from app.embedded import with_session

        doc = with_session(settings, lambda s: audits.compare(s, args.baseline, report["audit_id"], None))
        print(compare_table(doc), file=sys.stderr if args.json else sys.stdout)
        tripped += [f"{f['feature']}={f['level']}→{f['behaviour']} grew" for f in doc["findings"]
                    if f["verdict"] == "grew" and args.fail_on in ("grew", "any")]
    return _gate(args.fail_on, tripped)


def _start_analysis_process(settings: Settings) -> None:
    """Before this process's own imports (SQLAlchemy, the worker): the statistics' process then
    imports scipy on the core they leave idle, and less of that work is left to run beside
    sampling."""
    from app.audits import analysis_process

    analysis_process.warm(settings.analysis_process)


def _audit_list(args: argparse.Namespace) -> int:
    from app.audits import use_cases as audits
    from app.embedded import ME, with_session
    from app.schemas.audits import AuditRead
    from app.services import jobs

    def read(s: Any) -> list[dict[str, Any]]:
        rows = audits.list_audits(s, ME, limit=args.limit, offset=0)
        return [AuditRead.from_row(r, jobs.job_of(s, r)).model_dump(mode="json") for r in rows]

    items = with_session(settings_of(args), read)
    if args.json:
        print(json.dumps(items, indent=2))
        return 0
    print(f"{'id':<34}{'status':<11}{'samples':>15}  {'created':<20}name")
    for a in items:
        p = (a["job"] or {}).get("progress") or {}
        done = f"{p.get('done', 0)}/{p.get('total') or '?'}"
        print(f"{a['id']:<34}{a['status']:<11}{done:>15}  {a['created_at'][:19]:<20}{a['name']}")
    return 0


def _audit_show(args: argparse.Namespace) -> int:
    from app.audits import use_cases as audits
    from app.embedded import ME, with_session
    from app.schemas.audits import AuditRead
    from app.services import jobs

    audit_id = args.spec

    def read(s: Any) -> tuple[dict[str, Any], dict[str, Any] | None]:
        row = audits.get(s, audit_id, ME)
        return AuditRead.from_row(row, jobs.job_of(s, row)).model_dump(mode="json"), row.report

    info, report = with_session(settings_of(args), read)
    if args.json:
        print(json.dumps({**info, "report": report}, indent=2))
        return 0
    job = info["job"] or {}
    p = job.get("progress") or {}
    print(f"audit {info['id']} '{info['name']}': {info['status']}, {p.get('done', 0)}/"
          f"{p.get('total') or '?'} samples ({p.get('message') or '-'})")
    if job.get("error"):
        print(f"error: {job['error']}")
    if report is not None:
        write_report(report, args.out)
    elif info["status"] in ("cancelled", "failed", "interrupted"):
        print(f"resume with: surfturf audit resume {info['id']}")
    return 0


def _audit_cancel(args: argparse.Namespace) -> int:
    from app.audits import use_cases as audits
    from app.embedded import ME, with_session

    audit_id = args.spec

    def cancel(s: Any) -> str:
        return audits.cancel(s, audit_id, ME).status

    status = with_session(settings_of(args), cancel)
    print(json.dumps({"id": audit_id, "job_status": status}) if args.json else
          f"audit {audit_id}: {'cancelled' if status == 'cancelled' else 'cancel requested'}")
    return 0


def _audit_resume(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    _start_analysis_process(settings)
    from app.embedded import resume_audit_embedded

    report = resume_audit_embedded(settings, args.spec, concurrency=args.concurrency)
    write_report(report, args.out, as_json=args.json)
    return 0


def _audit_analyze(args: argparse.Namespace) -> int:
    """Re-analyse a samples file under a spec: no model is called (judges need an auditor)."""
    from app.audits import use_cases as audits
    from app.core.surf.imports import read_samples
    from app.core.surf.loader import SpecFileError, load_spec_file
    from app.core.surf.samples import SamplesFileError
    from app.services.auditor import auditor_for

    try:
        spec = load_spec_file(Path(args.spec))
        samples = read_samples(Path(args.samples_file), spec, args.source)
    except (SpecFileError, SamplesFileError, OSError, UnicodeDecodeError) as exc:
        raise CLIError(str(exc)) from None
    settings = settings_of(args)
    report = audits.analyze_samples(spec, samples, auditor_for(settings, spec.needs_auditor()))
    write_report(report.model_dump(mode="json"), args.out, as_json=args.json)
    return 0


def _audit_compare(args: argparse.Namespace) -> int:
    """Two samples files under one spec, or two stored audits: paired by prompt."""
    from app.audits import use_cases as audits
    from app.core.surf.compare import SpecMismatch

    files = args.baseline is not None or args.candidate is not None
    if files and (len(args.refs) != 1 or args.baseline is None or args.candidate is None):
        raise CLIError("audit compare: give SPEC --baseline A.jsonl --candidate B.jsonl, or AUDIT_A AUDIT_B")
    if not files and len(args.refs) != 2:
        raise CLIError("audit compare: give two audit ids (baseline first), or SPEC with --baseline and "
                       "--candidate samples files")
    settings = settings_of(args)
    try:
        if files:
            doc = _compare_files(args, settings)
        else:
            from app.embedded import with_session

            # the terminal holds the database: any audit in it, as `audit export` reads them
            doc = with_session(settings, lambda s: audits.compare(s, args.refs[0], args.refs[1], None,
                                                                  common_prompts=args.common_prompts))
    except SpecMismatch as exc:
        raise CLIError(f"audit compare: the audits are not comparable: {exc}") from None
    if args.out:
        Path(args.out).write_text(json.dumps(doc, indent=2), encoding="utf-8")
    print(json.dumps(doc, indent=2) if args.json else compare_table(doc))
    if args.out:
        print(f"comparison written to {args.out}", file=sys.stderr)
    verdicts = ("grew", "shrank") if args.fail_on == "changed" else ("grew",)
    return _gate(args.fail_on, [f"{f['feature']}={f['level']}→{f['behaviour']} {f['verdict']}"
                                for f in doc["findings"] if args.fail_on and f["verdict"] in verdicts])


def _gate(flag: str | None, tripped: list[str]) -> int:
    """Exit 3 (README's exit codes) when the gate a pipeline asked for trips, naming why."""
    if not flag or not tripped:
        return 0
    print(f"gate --fail-on {flag} tripped by {len(tripped)} finding(s): " + ", ".join(tripped),
          file=sys.stderr)
    return EXIT_GATE


def _audit_series(args: argparse.Namespace) -> int:
    """One spec on N checkpoints, in order: effects per checkpoint, trends, consecutive steps."""
    from app.core.surf.loader import SpecFileError, load_spec_file
    from app.embedded import run_series_embedded

    labels = args.label or []
    if labels and len(labels) != len(args.target):
        raise CLIError(f"audit series: {len(labels)} --label for {len(args.target)} --target; give one "
                       "label per target, or none (the model names are used)")
    if len(args.target) < 2:
        raise CLIError("audit series: give two or more --target URL MODEL, in checkpoint order")
    try:
        spec = load_spec_file(Path(args.spec))
    except (SpecFileError, OSError) as exc:
        raise CLIError(str(exc)) from None
    checkpoints = [(url, model, labels[i] if labels else None) for i, (url, model) in enumerate(args.target)]
    doc = run_series_embedded(settings_of(args), spec, checkpoints, api_key_env=args.target_api_key_env)
    if doc is None or doc["result"] is None:
        print("series did not complete", file=sys.stderr)
        return EXIT_FAILED
    result = doc["result"]
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=2), encoding="utf-8")
        print(f"series.json written to {args.out}", file=sys.stderr)
    if args.html:
        from app.core.reports.html import series_html

        Path(args.html).write_text(series_html(result), encoding="utf-8")
        print(f"series page written to {args.html}", file=sys.stderr)
    print(json.dumps(result, indent=2) if args.json else series_table(doc))
    tripped = [f"{step['candidate_audit_id']}: {f['feature']}={f['level']}→{f['behaviour']} grew"
               for step in result["steps"] for f in step["findings"]
               if f["verdict"] == "grew" and args.fail_on in ("grew", "any")]
    if args.fail_on in ("miscalibrated", "any"):
        from app.audits import use_cases as audits
        from app.embedded import with_session

        reports = with_session(settings_of(args),
                               lambda s: [audits.get(s, a).report for a in result["audits"]])
        tripped += [f"{label}: {f['feature']}={f['level']}→{f['behaviour']} miscalibrated"
                    for label, r in zip(result["labels"], reports, strict=True) for f in r["findings"]
                    if f["miscalibrated"]]
    return _gate(args.fail_on, tripped)


def series_table(doc: dict[str, Any]) -> str:
    r = doc["result"]
    labels = r["labels"]
    lines = [f"series '{r['name']}' ({doc['id']}): " + " → ".join(
        f"{a['label']} ({a['audit_id'][:8]})" for a in doc["audits"]),
        f"{'finding':<36}" + "".join(f"{lb[:9]:>10}" for lb in labels) + f"{'trend':>9}  {'CI':<17}steps"]
    verdicts: dict[tuple[str, str, str], list[str]] = {
        (f["feature"], f["level"], f["behaviour"]): [] for f in r["findings"]}
    for step in r["steps"]:
        for f in step["findings"]:
            verdicts[(f["feature"], f["level"], f["behaviour"])].append(f["verdict"])

    def num(x: float | None) -> str:
        return "—" if x is None else f"{x:+.2f}"

    for f in r["findings"]:
        t = f["trend"]
        ci = f"[{t['ci_low']:+.2f}, {t['ci_high']:+.2f}]" if t["ci_low"] is not None else ""
        label = f"{f['feature']}={f['level']}→{f['behaviour']}"
        lines.append(f"{label[:35]:<36}" + "".join(f"{num(p['effect']):>10}" for p in f["effects"])
                     + f"{num(t['estimate']):>9}  {ci:<17}"
                     + " ".join(v.upper() if v in ("grew", "shrank") else v
                                for v in verdicts[(f["feature"], f["level"], f["behaviour"])]))
    return "\n".join(lines)


def _compare_files(args: argparse.Namespace, settings: Any) -> dict[str, Any]:
    from app.audits import use_cases as audits
    from app.core.surf.loader import SpecFileError, load_spec_file
    from app.core.surf.samples import SamplesFileError, read_jsonl
    from app.services.auditor import auditor_for

    try:
        spec = load_spec_file(Path(args.refs[0]))
        loaded = []
        for path in (args.baseline, args.candidate):
            with open(path, encoding="utf-8") as fh:
                loaded.append(read_jsonl(fh, spec, source=path))
    except (SpecFileError, SamplesFileError, OSError, UnicodeDecodeError) as exc:
        raise CLIError(str(exc)) from None
    return audits.compare_samples(spec, loaded[0], loaded[1], auditor_for(settings, spec.needs_auditor()),
                                  common_prompts=args.common_prompts)


def compare_table(doc: dict[str, Any]) -> str:
    p = doc["prompts"]
    lines = [f"compare '{doc['name']}': {p['paired']} prompts paired"
             + (f" (only those in both: {p['baseline_only']} baseline-only, {p['candidate_only']} "
                "candidate-only left out)" if p["common_only"] else "")
             + f"; family {doc['family']['size']}, {doc['family']['selected']} changed at FDR "
             f"{doc['alpha']:g}; verdicts read the {doc['family']['fcr_level']:.1%} FCR-adjusted interval "
             f"against ±{doc['min_effect']:g}"]
    if doc["sampling_differences"]:
        lines.append("sampling differs: " + ", ".join(f"{k} {v[0]} → {v[1]}"
                                                       for k, v in doc["sampling_differences"].items()))
    lines.append(f"{'finding':<40}{'baseline':>9}{'candidate':>10}{'change':>8}  {'adjusted CI':<18}verdict")

    def num(x: float | None) -> str:
        return "—" if x is None else f"{x:+.2f}"

    for f in doc["findings"]:
        ci = (f"[{f['ci_adj_low']:+.2f}, {f['ci_adj_high']:+.2f}]" if f["ci_adj_low"] is not None else "")
        label = f"{f['feature']}={f['level']}→{f['behaviour']}"
        verdict = f["verdict"].upper() if f["verdict"] in ("grew", "shrank") else f["verdict"]
        lines.append(f"{label[:39]:<40}{num(f['baseline_effect']):>9}{num(f['candidate_effect']):>10}"
                     f"{num(f['difference']):>8}  {ci:<18}{verdict}"
                     + (f" ({f['reason']})" if f["reason"] else ""))
    return "\n".join(lines)


def _audit_export(args: argparse.Namespace) -> int:
    from app.audits import use_cases as audits
    from app.db.engine import make_engine, make_session_factory
    from app.errors import NotFound

    audit_id = args.spec
    settings = settings_of(args)
    engine = make_engine(settings.resolved_database_url)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    try:
        n = 0
        for line in audits.export_samples(make_session_factory(engine), audit_id):
            out.write(line)
            n += 1
    except NotFound as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    finally:
        if out is not sys.stdout:
            out.close()
        engine.dispose()
    if args.out:
        print(f"{n} samples written to {args.out}", file=sys.stderr)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """A whole audit on the embedded default: an organism target, SQLite, in-process worker."""
    from app.core.surf.loader import load_spec_file
    from app.embedded import run_audit_embedded
    from app.serving import serve_in_thread

    settings = settings_of(args)
    if args.lm:
        from app.model_server import lm_organism_app

        model = args.organism  # a built organism answers under its own name
        app = lm_organism_app(settings.data_dir, DATA / "organisms-lm" / args.organism, model)
        default_spec = DATA / "specs" / "demo-lm.yaml"
    else:
        from app.core.organisms.planted import PlantedSpec
        from app.organism_server import create_organism_app

        organism = PlantedSpec.from_file(organism_path(args.organism))
        app, model = create_organism_app(organism), organism.name
        default_spec = DATA / "specs" / "demo.yaml"
    spec = load_spec_file(Path(args.spec) if args.spec else default_spec)
    with serve_in_thread(app) as url:
        print(f"organism '{args.organism}' serving at {url}/v1", file=sys.stderr if args.json else sys.stdout)
        report = run_audit_embedded(settings, spec, target_url=url, target_model=model)
    write_report(report, args.out, as_json=args.json)
    return 0


def register(sub: Any) -> None:
    acts = add_actions(sub, "audit", "run a probe spec embedded; list, show, resume, cancel or export "
                       "audits; re-analyse samples; print the spec's JSON Schema")
    r = add_command(acts, "run", "run a probe spec against a target on the embedded default", _audit_run)
    r.add_argument("spec", metavar="SPEC", help="the probe spec file (YAML or JSON)")
    target_flags(r)
    r.add_argument("--samples-per-prompt", dest="samples", type=positive_int, metavar="N",
                   help="override design.samples_per_prompt")
    concurrency_flag(r)
    r.add_argument("--out", help="write the JSON report here")
    r.add_argument("--new", action="store_true",
                   help="start a new audit even if an unfinished one of this spec and target exists")
    r.add_argument("--baseline", metavar="AUDIT_ID", help="a finished audit of this spec (an earlier "
                   "checkpoint): compare with it when done (audit compare's table; audit.regressed)")
    r.add_argument("--fail-on", choices=("miscalibrated", "grew", "any"), help="exit 3 when a finding "
                   "is miscalibrated, grew against --baseline, or either (any)")
    json_flag(r, "the report JSON")
    an = add_command(acts, "analyze", "re-analyse a samples file under a spec (no target is called)",
                     _audit_analyze)
    an.add_argument("spec", metavar="SPEC", help="the probe spec file")
    an.add_argument("--samples", dest="samples_file", metavar="FILE", required=True,
                    help="samples to re-analyse: surfturf's export format, an inspect_ai log (.eval) or "
                    "promptfoo's results.json (see --from)")
    an.add_argument("--from", dest="source", choices=["surfturf", "inspect", "promptfoo"], default="surfturf",
                    help="which tool wrote the samples (README: 'Samples from other tools')")
    an.add_argument("--out", help="write the JSON report here")
    json_flag(an, "the report JSON")
    cmp = add_command(acts, "compare", "did each finding grow, shrink or stay between two audits of "
                      "one spec? (paired by prompt; candidate − baseline)", _audit_compare)
    cmp.add_argument("refs", nargs="+", metavar="SPEC | AUDIT_A AUDIT_B",
                     help="a probe spec with --baseline/--candidate samples files, or two stored audit "
                     "ids, the baseline first")
    cmp.add_argument("--baseline", metavar="A.jsonl", help="the baseline's samples (the export format)")
    cmp.add_argument("--candidate", metavar="B.jsonl", help="the candidate's samples")
    cmp.add_argument("--common-prompts", action="store_true",
                     help="when the prompts differ, compare those both have (said in the output)")
    cmp.add_argument("--fail-on", choices=("grew", "changed"),
                     help="exit 3 when a finding grew (changed: grew or shrank)")
    cmp.add_argument("--out", help="write compare.json here")
    json_flag(cmp, "compare.json")
    ser = add_command(acts, "series", "one spec on N checkpoints, in order: effects per checkpoint, "
                      "trends, and consecutive checkpoints compared", _audit_series)
    ser.add_argument("spec", metavar="SPEC", help="the probe spec file (one seed for every checkpoint)")
    ser.add_argument("--target", nargs=2, action="append", metavar=("URL", "MODEL"), required=True,
                     help="a checkpoint's OpenAI-compatible base URL and model; repeat, in order")
    ser.add_argument("--label", action="append", metavar="L", help="each checkpoint's name, in the "
                     "same order (default: the model names)")
    ser.add_argument("--target-api-key-env", metavar="VAR", help="environment variable holding the "
                     "targets' API key (must be set)")
    ser.add_argument("--fail-on", choices=("miscalibrated", "grew", "any"), help="exit 3 when a "
                     "checkpoint has a miscalibrated finding, a finding grew from one checkpoint to "
                     "the next, or either (any)")
    ser.add_argument("--out", help="write series.json here")
    ser.add_argument("--html", metavar="FILE", help="write the series page (plot, trends, steps) here")
    json_flag(ser, "series.json")
    ls = add_command(acts, "list", "audits of the embedded database, newest first", _audit_list)
    ls.add_argument("--limit", type=positive_int, default=50, help="how many")
    json_flag(ls)
    for name, fn, help_ in (("show", _audit_show, "one audit: status, progress, findings"),
                            ("cancel", _audit_cancel, "stop a running audit (resumable)"),
                            ("resume", _audit_resume, "continue an interrupted, cancelled or failed "
                             "audit from its stored samples"),
                            ("export", _audit_export, "the audit's samples as JSONL (the analyze format)")):
        a = add_command(acts, name, help_, fn)
        a.add_argument("spec", metavar="AUDIT_ID", help="the audit id (surfturf audit list)")
        if name != "cancel":
            a.add_argument("--out", help="the JSONL file" if name == "export" else
                           "write the JSON report here")
        if name == "resume":
            concurrency_flag(a)
        if name != "export":
            json_flag(a)
    add_command(acts, "schema", "the probe spec's JSON Schema", _audit_schema)

    m = add_command(sub, "demo", "audit a bundled organism end to end on the embedded default", cmd_demo)
    m.add_argument("--organism", default="two-chunk", help="a bundled organism (surfturf organism list)")
    m.add_argument("--lm", action="store_true",
                   help="audit the fine-tuned SmolLM2 organism (needs the local-hf extra)")
    m.add_argument("--spec", help="probe spec (default: the bundled demo)")
    m.add_argument("--out", default="report.json", help="where the JSON report goes")
    json_flag(m, "the report JSON")


def target_flags(p: argparse.ArgumentParser, *, model_strings: bool = False) -> None:
    """`model_strings`: --target-model also takes SURF's http://HOST:PORT/v1:MODEL, and then
    --target-url may be left out."""
    p.add_argument("--target-url", required=not model_strings,
                   help="the target's OpenAI-compatible base URL (…/v1)")
    p.add_argument("--target-model", required=True, help="the model name the target serves; "
                   "anthropic:MODEL for a Messages-API target" + (
                       ", or SURF's http://HOST:PORT/v1:MODEL" if model_strings else ""))
    p.add_argument("--target-api-key-env", metavar="VAR",
                   help="environment variable holding the target's API key (must be set)")


def concurrency_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--concurrency", type=concurrency, metavar="N",
                   help="requests in flight (overrides design.concurrency; capped by "
                   "SURFTURF_TARGET_MAX_CONCURRENCY)")
