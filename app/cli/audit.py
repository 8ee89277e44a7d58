"""`audit` (run, analyze, export, schema) and `demo`: SURF from the terminal."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.cli.common import DATA, CLIError, settings_of, write_report
from app.cli.models import organism_path
from app.startup import collector_paused

if TYPE_CHECKING:
    from app.config import Settings


def cmd_audit(args: argparse.Namespace) -> int:
    if args.action == "schema":
        from app.core.surf.spec import ProbeSpec

        print(json.dumps(ProbeSpec.model_json_schema(), indent=2))
        return 0
    if args.action in RESOURCE_ACTIONS:
        return RESOURCE_ACTIONS[args.action](args)
    if args.action == "analyze":
        return _audit_analyze(args)
    return _audit_run(args)


def _audit_run(args: argparse.Namespace) -> int:
    from app.core.surf.loader import SpecFileError, load_spec_file

    if not args.spec:
        raise CLIError("audit run needs SPEC (a probe spec file)")
    if not args.target_url or not args.target_model:
        raise CLIError("audit run needs --target-url and --target-model")
    with collector_paused():
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
    report = run_audit_embedded(settings, spec, target_url=args.target_url,
                                target_model=args.target_model, api_key_env=args.target_api_key_env,
                                new=args.new)
    write_report(report, args.out, as_json=args.json)
    return 0


def _start_analysis_process(settings: Settings) -> None:
    """Before this process's own imports (SQLAlchemy, the worker): the statistics' process then
    imports scipy on the core they leave idle, and less of that work is left to run beside
    sampling."""
    from app.services import analysis_process

    analysis_process.warm(settings.analysis_process)


def _require_id(args: argparse.Namespace) -> str:
    if not args.spec:
        raise CLIError(f"audit {args.action} needs an AUDIT_ID (surfturf audit list)")
    return str(args.spec)


def _audit_list(args: argparse.Namespace) -> int:
    from app.embedded import ME, with_session
    from app.schemas.audits import AuditRead
    from app.services import audits, jobs

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
    from app.embedded import ME, with_session
    from app.schemas.audits import AuditRead
    from app.services import audits, jobs

    audit_id = _require_id(args)

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
    elif info["status"] in ("cancelled", "failed"):
        print(f"resume with: surfturf audit resume {info['id']}")
    return 0


def _audit_cancel(args: argparse.Namespace) -> int:
    from app.embedded import ME, with_session
    from app.services import audits

    audit_id = _require_id(args)

    def cancel(s: Any) -> str:
        return audits.cancel(s, audit_id, ME).status

    status = with_session(settings_of(args), cancel)
    print(json.dumps({"id": audit_id, "job_status": status}) if args.json else
          f"audit {audit_id}: {'cancelled' if status == 'cancelled' else 'cancel requested'}")
    return 0


def _audit_resume(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    _start_analysis_process(settings)
    with collector_paused():
        from app.embedded import resume_audit_embedded

    report = resume_audit_embedded(settings, _require_id(args))
    write_report(report, args.out, as_json=args.json)
    return 0


def _audit_analyze(args: argparse.Namespace) -> int:
    """Re-analyse a samples file under a spec: no model is called (judges need an auditor)."""
    from app.core.surf.loader import SpecFileError, load_spec_file
    from app.core.surf.samples import SamplesFileError, read_jsonl
    from app.services import audits
    from app.services.auditor import auditor_for

    if not args.spec or not args.samples_file:
        raise CLIError("audit analyze needs SPEC and --samples SAMPLES.jsonl")
    try:
        spec = load_spec_file(Path(args.spec))
        with open(args.samples_file, encoding="utf-8") as fh:
            samples = read_jsonl(fh, spec, source=args.samples_file)
    except (SpecFileError, SamplesFileError, OSError, UnicodeDecodeError) as exc:
        raise CLIError(str(exc)) from None
    settings = settings_of(args)
    report = audits.analyze_samples(spec, samples, auditor_for(settings, spec.needs_auditor()))
    write_report(report.model_dump(mode="json"), args.out, as_json=args.json)
    return 0


def _audit_export(args: argparse.Namespace) -> int:
    from app.db.engine import make_engine, make_session_factory
    from app.errors import NotFound
    from app.services import audits

    audit_id = _require_id(args)
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
        from app.core.llm import local_models
        from app.core.llm.hf_engine import hf_client
        from app.model_server import create_model_app

        folder = DATA / "organisms-lm" / args.organism
        base = local_models.export_hf("smollm2", local_models.export_dir(settings.data_dir, "smollm2"))
        model = args.organism  # a built organism answers under its own name
        app = create_model_app(hf_client(base, model, folder / "adapter"))
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


RESOURCE_ACTIONS = {"list": _audit_list, "show": _audit_show, "cancel": _audit_cancel,
                    "resume": _audit_resume, "export": _audit_export}


def _concurrency(text: str) -> int:
    n = int(text) if text.isdigit() else 0
    if not 1 <= n <= 1024:
        raise argparse.ArgumentTypeError(f"{text!r}: a whole number from 1 to 1024")
    return n


def register(sub: Any) -> None:
    a = sub.add_parser("audit", help="run a probe spec embedded; re-analyse or export samples; "
                       "print the spec's JSON Schema")
    a.add_argument("action", choices=["run", "analyze", "list", "show", "cancel", "resume", "export",
                                      "schema"])
    a.add_argument("spec", nargs="?", metavar="SPEC|AUDIT_ID",
                   help="run/analyze: the probe spec file; show/cancel/resume/export: the audit id")
    a.add_argument("--samples", dest="samples_file", metavar="SAMPLES.jsonl",
                   help="analyze: samples to re-analyse (the export format)")
    a.add_argument("--target-url")
    a.add_argument("--target-model")
    a.add_argument("--target-api-key-env", help="env var holding the target's API key")
    a.add_argument("--samples-per-prompt", dest="samples", type=int,
                   help="run: override design.samples_per_prompt")
    a.add_argument("--concurrency", type=_concurrency, metavar="N",
                   help="run: requests in flight (overrides design.concurrency; capped by "
                   "SURFTURF_TARGET_MAX_CONCURRENCY)")
    a.add_argument("--out", help="run/analyze/resume/show: write the JSON report here; export: the "
                   "JSONL file")
    a.add_argument("--new", action="store_true",
                   help="run: start a new audit even if an unfinished one of this spec and target exists")
    a.add_argument("--limit", type=int, default=50, help="list: how many (newest first)")
    a.add_argument("--json", action="store_true", help="print machine-readable JSON on stdout")
    a.set_defaults(fn=cmd_audit)
    m = sub.add_parser("demo", help="audit a bundled organism end to end on the embedded default")
    m.add_argument("--organism", default="two-chunk")
    m.add_argument("--lm", action="store_true",
                   help="audit the fine-tuned SmolLM2 organism (needs the local-hf extra)")
    m.add_argument("--spec", help="probe spec (default: the bundled demo)")
    m.add_argument("--out", default="report.json")
    m.add_argument("--json", action="store_true", help="print the report JSON on stdout")
    m.set_defaults(fn=cmd_demo)
