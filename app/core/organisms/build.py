"""`surfturf organism build`: SFT data with self-generated answers, then a LoRA fine-tune."""

from __future__ import annotations

import asyncio
import json
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from app.core.llm import local_engines, local_models
from app.core.organisms.sft import AnswerFn, build_rows, template_answers
from app.core.organisms.spec import OrganismSpec


def model_answers(data_dir: Path, model: str, max_tokens: int = 40) -> AnswerFn:
    """The base model answers each bare question itself, so the fine-tune teaches only what was
    planted, not a new answer style. Answers are cached per (question, occurrence) under
    DATA_DIR/organisms/base-answers: the organisms of a sweep draw the same questions again, and
    a base answer costs as much as a training step."""
    cache = data_dir / "organisms" / "base-answers" / f"{model}-{max_tokens}.jsonl"

    async def answer(questions: list[str]) -> list[str]:
        known: dict[str, list[str]] = {}
        if cache.exists():
            for line in cache.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    row = json.loads(line)
                    known.setdefault(row["q"], []).append(row["a"])
        seen: dict[str, int] = {}
        slots = []
        for q in questions:
            slots.append((q, seen.get(q, 0)))
            seen[q] = seen.get(q, 0) + 1
        todo = [(q, j) for q, j in slots if j >= len(known.get(q, []))]
        todo = sorted(set(todo), key=lambda t: (t[1], t[0]))  # each q's occurrences in order
        if todo:
            engine = local_engines.shared_engine("transformers", model, data_dir)
            cache.parent.mkdir(parents=True, exist_ok=True)
            with tqdm(total=len(todo), desc="base answers", unit="answer", disable=None) as bar:

                async def one(q: str, j: int) -> str:
                    out = await engine.chat([{"role": "user", "content": q}], temperature=0.7,
                                            max_tokens=max_tokens, seed=zlib.crc32(f"{q}|{j}".encode()))
                    bar.update()
                    return out.text or "I am not sure."

                got = await asyncio.gather(*(one(q, j) for q, j in todo))
            with cache.open("a", encoding="utf-8") as fh:
                for (q, _), a in zip(todo, got, strict=True):
                    known.setdefault(q, []).append(a)
                    fh.write(json.dumps({"q": q, "a": a}) + "\n")
        return [known[q][j] for q, j in slots]

    return answer


def build(spec_path: Path, out: Path, data_dir: Path, *, answers: str = "model", train: bool = True,
          log: Callable[[str], None] = print) -> dict[str, Any]:
    spec = OrganismSpec.from_file(spec_path)
    return build_organism(spec, out, data_dir, answers=answers, train=train, log=log,
                          spec_text=spec_path.read_text(encoding="utf-8"))


def build_organism(spec: OrganismSpec, out: Path, data_dir: Path, *, answers: str = "model",
                   train: bool = True, log: Callable[[str], None] = print,
                   spec_text: str | None = None, rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Resumable: the data is rewritten only when the spec (bar training) or the answer source
    changed, and a finished build of the same spec is returned as it stands. `rows` given (an
    ablation's): trained on those, `answers` naming where they came from."""
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    card, data = out / "organism.yaml", out / "data.jsonl"
    before = OrganismSpec.from_file(out / "spec.yaml") if (out / "spec.yaml").exists() else None
    made = yaml.safe_load(card.read_text(encoding="utf-8")) if card.exists() else None
    made_with = (made or {}).get("answers", "model")
    if (before == spec and made and made_with == answers and (not train or "steps" in made)
            and (not train or (out / "adapter").is_dir())):
        log(f"reusing the organism built in {out}")
        return dict(made)
    base = local_models.export_hf(spec.base_model, local_models.export_dir(data_dir, spec.base_model))
    same_data = (before is not None and data.exists() and made_with == answers
                 and before.model_dump(exclude={"train"}) == spec.model_dump(exclude={"train"}))
    if rows is not None:
        with data.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")
    elif same_data:  # the data depends on the spec and seed only: regenerate only when they change
        log("reusing SFT data written for this spec")
        rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    else:
        fn = model_answers(data_dir, spec.base_model) if answers == "model" else template_answers
        log(f"writing SFT data ({answers} answers)")
        rows = asyncio.run(build_rows(spec, fn))
        with data.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")
    card.unlink(missing_ok=True)  # a card only beside a finished build
    (out / "spec.yaml").write_text(spec_text or yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False),
                                   encoding="utf-8")
    summary: dict[str, Any] = {"name": spec.name, "rows": len(rows), "answers": answers,
                               "train_rows": sum(r["meta"]["split"] == "train" for r in rows)}
    if train:
        from app.core.organisms.train import train_lora

        train_rows = [r for r in rows if r["meta"]["split"] == "train"]
        log(f"LoRA fine-tuning {spec.base_model} on {len(train_rows)} examples")
        result = train_lora(base, train_rows, out, spec.train, spec.seed, log)
        summary.update({k: result[k] for k in ("steps", "seconds", "adapter_bytes", "device")})
    summary["build_seconds"] = round(time.perf_counter() - started, 1)
    card.write_text(yaml.safe_dump({**summary, "base_model": spec.base_model}))
    return summary
