"""transformers engine: the no-build fallback backend (CPU or GPU), optional peft LoRA adapter."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from app.core.llm.base import Message
from app.core.llm.batching import BatchingChatClient, Generated


class HFGenerator:
    """Batched sampling with left padding; requests in one batch share temperature/top_p, the
    batch's first seed seeds the generator (per-request seeds need batch size 1)."""

    def __init__(self, model_dir: Path, adapter: Path | None = None, device: str | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as exc:
            raise RuntimeError("the transformers backend needs `pip install 'surfturf[local-hf]'`") from exc
        self.torch = torch
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.tok = AutoTokenizer.from_pretrained(str(model_dir))
        self.tok.padding_side = "left"
        if self.tok.pad_token is None:
            self.tok.pad_token = self.tok.eos_token
        model: Any = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
        if adapter is not None:
            from peft import PeftModel

            # merged into the base weights: the same function, without peft's per-layer adapter
            # calls (~20% of a CPU generation step on SmolLM2-135M, measured)
            model = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
        self.model = model.to(self.device).eval()
        self._lock = threading.Lock()

    def generate(self, batch: list[tuple[list[Message], dict[str, Any]]]) -> list[Generated]:
        torch = self.torch
        params = batch[0][1]
        prompts = [self.tok.apply_chat_template(m, tokenize=False, add_generation_prompt=True)
                   for m, _ in batch]
        enc = self.tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.device)
        t = params.get("temperature")
        temperature = 1.0 if t is None else float(t)
        max_new = max(int(p.get("max_tokens") or 256) for _, p in batch)
        kwargs: dict[str, Any] = {"max_new_tokens": max_new, "pad_token_id": self.tok.pad_token_id}
        if temperature > 0:
            kwargs.update(do_sample=True, temperature=temperature, top_p=float(params.get("top_p") or 1.0))
        else:
            kwargs.update(do_sample=False)
        with self._lock, torch.inference_mode():
            if params.get("seed") is not None:
                torch.manual_seed(int(params["seed"]))
            out = self.model.generate(**enc, **kwargs)
        results = []
        width = enc["input_ids"].shape[1]
        for i, (_, p) in enumerate(batch):
            new = out[i, width:]
            cap = int(p.get("max_tokens") or max_new)
            new = new[new != self.tok.pad_token_id][:cap]
            text = str(self.tok.decode(new, skip_special_tokens=True)).strip()
            # a sequence that ended on its own was padded after its end (dropped above): shorter
            finish = "length" if len(new) >= cap else "stop"
            results.append((text, int(enc["attention_mask"][i].sum()), int(len(new)), finish))
        return results


def hf_client(
    model_dir: Path, name: str, adapter: Path | None = None, max_batch: int = 64
) -> BatchingChatClient:
    """A CPU decode step costs little more at 64 rows than at 16 (the weights are read once per
    step either way): batches of 64 took less than half the time per 64-token answer of batches
    of 16 (SmolLM2-135M, 2 cores, side by side). Clients need `design.concurrency` ≥ 64 for it."""
    gen = HFGenerator(model_dir, adapter)

    def generate(batch: list[tuple[list[Message], dict[str, Any]]]) -> list[Generated]:
        # one generate call per distinct (temperature, top_p): they cannot share a sampler
        groups: dict[tuple[Any, Any], list[int]] = {}
        for i, (_, p) in enumerate(batch):
            groups.setdefault((p.get("temperature"), p.get("top_p")), []).append(i)
        out: list[Generated] = [("", 0, 0, "stop")] * len(batch)
        for idx in groups.values():
            for i, r in zip(idx, gen.generate([batch[i] for i in idx]), strict=True):
                out[i] = r
        return out

    return BatchingChatClient(name, generate, max_batch=max_batch)
