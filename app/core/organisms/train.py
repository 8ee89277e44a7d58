"""LoRA fine-tuning of the base model on an organism's SFT set (torch + peft; CPU or GPU)."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.organisms.spec import TrainSpec


def train_lora(base_dir: Path, rows: list[dict[str, Any]], out: Path, cfg: TrainSpec, seed: int,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """Loss only on the assistant turn; adapter saved in float16 (a few MB)."""
    try:
        import torch
        from peft import LoraConfig, get_peft_model
        from safetensors.torch import load_file, save_file
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise RuntimeError("organism build needs `pip install 'surfturf[local-hf]'`") from exc
    random.seed(seed)
    torch.manual_seed(seed)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    tok = AutoTokenizer.from_pretrained(str(base_dir))
    model: Any = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=cfg.rank, lora_alpha=2 * cfg.rank, lora_dropout=0.05,
                                             target_modules="all-linear", task_type="CAUSAL_LM"))
    model.to(device).train()
    examples = [_encode(tok, r["messages"], cfg.max_length) for r in rows]
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate)
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    losses, step, started = [], 0, time.perf_counter()
    for epoch in range(cfg.epochs):
        order = list(range(len(examples)))
        random.Random(seed + epoch).shuffle(order)
        for i in range(0, len(order), cfg.batch_size):
            batch = [examples[j] for j in order[i:i + cfg.batch_size]]
            width = max(len(ids) for ids, _ in batch)
            ids = torch.full((len(batch), width), pad)
            labels = torch.full((len(batch), width), -100)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for b, (x, y) in enumerate(batch):
                ids[b, :len(x)], labels[b, :len(y)], mask[b, :len(x)] = torch.tensor(x), torch.tensor(y), 1
            loss = model(input_ids=ids.to(device), attention_mask=mask.to(device),
                         labels=labels.to(device)).loss
            loss.backward()
            opt.step()
            opt.zero_grad()
            step += 1
            losses.append(round(float(loss.detach()), 4))
            if step % 10 == 0:
                log(f"epoch {epoch + 1} step {step}: loss {sum(losses[-10:]) / 10:.3f}")
    adapter = out / "adapter"
    model.save_pretrained(adapter)
    (adapter / "README.md").unlink(missing_ok=True)  # peft's generic model card
    weights = adapter / "adapter_model.safetensors"
    save_file({k: v.half().contiguous() for k, v in load_file(str(weights)).items()}, str(weights))
    result = {"steps": step, "examples": len(examples), "epochs": cfg.epochs, "device": device,
              "seconds": round(time.perf_counter() - started, 1), "losses": losses,
              "adapter_bytes": weights.stat().st_size}
    (out / "train_log.json").write_text(json.dumps(result, indent=1))
    return result


def _encode(tok: Any, messages: list[dict[str, str]], max_length: int) -> tuple[list[int], list[int]]:
    prompt = tok.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(messages, tokenize=False)
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    ids = tok(full, add_special_tokens=False)["input_ids"][:max_length]
    labels = [-100] * min(len(p_ids), len(ids)) + ids[len(p_ids):]
    return ids, labels[:len(ids)]
