"""FAISS vector index over normalised embeddings; exact below 100k rows (by default), HNSW above."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

EXACT_LIMIT = 100_000


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as exc:
        raise RuntimeError("TURF needs `pip install 'surfturf[embed]'` (faiss-cpu)") from exc
    return faiss


class VectorIndex:
    """Inner product on unit vectors = cosine. Row ordinals are the FAISS ids."""

    def __init__(self, index: Any) -> None:
        self.index = index

    @classmethod
    def create(cls, dim: int, expected_rows: int, exact_limit: int = EXACT_LIMIT) -> VectorIndex:
        """Exact search below `exact_limit` rows; above, HNSW (approximate, sub-linear)."""
        faiss = _faiss()
        if expected_rows < exact_limit:
            inner = faiss.IndexFlatIP(dim)
        else:
            inner = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efSearch = 128
        return cls(faiss.IndexIDMap2(inner))

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        """Idempotent per id: re-adding an id replaces nothing and adds nothing."""
        if len(ids) == 0:
            return
        present = self.index.id_map
        known = set(_faiss().vector_to_array(present).tolist()) if self.index.ntotal else set()
        keep = np.array([i not in known for i in ids.tolist()])
        if keep.any():
            self.index.add_with_ids(np.ascontiguousarray(vectors[keep], dtype="float32"),
                                    ids[keep].astype("int64"))

    @property
    def kind(self) -> str:
        """The index type under the id map, e.g. IndexFlatIP or IndexHNSWFlat."""
        return type(_faiss().downcast_index(self.index.index)).__name__

    @property
    def size(self) -> int:
        return int(self.index.ntotal)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """The stored vectors of these ids, as one (len(ids), dim) float32 array."""
        return np.asarray(self.index.reconstruct_batch(np.ascontiguousarray(ids, dtype="int64")),
                          dtype="float32")

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(k, self.size)
        scores, ids = self.index.search(np.ascontiguousarray(queries, dtype="float32"), k)
        return scores, ids

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        _faiss().write_index(self.index, str(tmp))
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> VectorIndex:
        return cls(_faiss().read_index(str(path)))


def kmeans(vectors: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(centroids, assignment) with faiss k-means on unit vectors (spherical)."""
    faiss = _faiss()
    k = max(1, min(k, len(vectors)))
    km = faiss.Kmeans(vectors.shape[1], k, niter=25, seed=seed, spherical=True, verbose=False,
                      max_points_per_centroid=2048)
    km.train(np.ascontiguousarray(vectors, dtype="float32"))
    _, assign = km.index.search(np.ascontiguousarray(vectors, dtype="float32"), 1)
    return km.centroids, assign[:, 0]


def cluster_count(n: int) -> int:
    return int(max(2, min(64, round((n / 2) ** 0.5))))
