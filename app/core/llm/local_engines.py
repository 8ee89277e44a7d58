"""In-process engines shared by a worker's jobs: loading a model costs seconds to minutes."""

from __future__ import annotations

import threading
from pathlib import Path

from app.core.llm import local_models
from app.core.llm.batching import BatchingChatClient

_engines: dict[tuple[str, str], BatchingChatClient] = {}
_lock = threading.Lock()


def shared_engine(kind: str, model: str, data_dir: Path, adapter: Path | None = None) -> BatchingChatClient:
    """`model` is a catalogue name (exported on first use) or a folder of HF safetensors."""
    key = (kind, f"{model}|{adapter}")
    with _lock:
        if key not in _engines:
            path = Path(model)
            if not path.is_dir():
                path = local_models.export_hf(model, local_models.export_dir(data_dir, model))
            if kind == "vllm":
                from app.core.llm.vllm_engine import vllm_client

                _engines[key] = vllm_client(path, model, adapter)
            elif kind == "transformers":
                from app.core.llm.hf_engine import hf_client

                _engines[key] = hf_client(path, model, adapter)
            else:
                raise ValueError(f"unknown engine {kind!r}")
        return _engines[key]


def shutdown_all() -> None:
    """Stop every shared engine; call before the process exits."""
    with _lock:
        for client in _engines.values():
            client.shutdown()
        _engines.clear()
