"""`surfturf organism build`: SFT data with self-generated answers, then a LoRA fine-tune."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from tqdm import tqdm

from app.core.llm import local_engines, local_models
from app.core.organisms.sft import AnswerFn, build_rows, template_answers
from app.core.organisms.spec import OrganismSpec


def model_answers(data_dir: Path, model: str, seed: int, max_tokens: int = 40) -> AnswerFn:
    """The base model answers each bare question itself, so the fine-tune teaches only what was
    planted, not a new answer style."""

    async def answer(questions: list[str]) -> list[str]:
        engine = local_engines.shared_engine("transformers", model, data_dir)
        with tqdm(total=len(questions), desc="base answers", unit="answer", disable=None) as bar:

            async def one(i: int, q: str) -> str:
                out = await engine.chat([{"role": "user", "content": q}], temperature=0.7,
                                        max_tokens=max_tokens, seed=seed + i)
                bar.update()
                return out.text or "I am not sure."

            return list(await asyncio.gather(*(one(i, q) for i, q in enumerate(questions))))

    return answer


def build(spec_path: Path, out: Path, data_dir: Path, *, answers: str = "model", train: bool = True,
          log: Callable[[str], None] = print) -> dict[str, Any]:
    spec = OrganismSpec.from_file(spec_path)
    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    base = local_models.export_hf(spec.base_model, local_models.export_dir(data_dir, spec.base_model))
    data = out / "data.jsonl"
    same_data = (out / "spec.yaml").exists() and data.exists() and OrganismSpec.from_file(
        out / "spec.yaml").model_dump(exclude={"train"}) == spec.model_dump(exclude={"train"})
    if same_data:  # the data depends on the spec and seed only: regenerate only when they change
        log("reusing SFT data written for this spec")
        rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    else:
        fn = model_answers(data_dir, spec.base_model, spec.seed) if answers == "model" else template_answers
        log(f"writing SFT data ({answers} answers)")
        rows = asyncio.run(build_rows(spec, fn))
        with data.open("w", encoding="utf-8") as fh:
            for r in rows:
                fh.write(json.dumps(r) + "\n")
    shutil.copyfile(spec_path, out / "spec.yaml")
    summary: dict[str, Any] = {"name": spec.name, "rows": len(rows),
                               "train_rows": sum(r["meta"]["split"] == "train" for r in rows)}
    if train:
        from app.core.organisms.train import train_lora

        train_rows = [r for r in rows if r["meta"]["split"] == "train"]
        log(f"LoRA fine-tuning {spec.base_model} on {len(train_rows)} examples")
        result = train_lora(base, train_rows, out, spec.train, spec.seed, log)
        summary.update({k: result[k] for k in ("steps", "seconds", "adapter_bytes", "device")})
    summary["build_seconds"] = round(time.perf_counter() - started, 1)
    (out / "organism.yaml").write_text(yaml.safe_dump({**summary, "base_model": spec.base_model}))
    return summary
