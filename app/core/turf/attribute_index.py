"""A dataset's LLM-written attributes on disk, beside its other indexes (DATA_DIR is shared by
the API and the workers):

    attributes/rows.jsonl      one line per row described (append-only: an extraction resumes
                               from it and never asks about a row twice; a torn last line, from
                               a kill mid-write, is ignored)
    attributes/index.npz       built from it: the rows, each query attribute's row and cluster,
                               each response attribute's row; the clusters' centroids
    attributes/clusters.json   each query cluster's summary and size
    attributes/responses.faiss response attributes' embeddings (ids: their position)"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from app.core.turf.extraction import Ask, Clusters, Embed, RowAttributes, cluster_and_summarise
from app.core.turf.index import VectorIndex

FOLDER = "attributes"


class AttributeLog:
    def __init__(self, dataset_dir: Path) -> None:
        self.path = dataset_dir / FOLDER / "rows.jsonl"

    def read(self) -> dict[int, RowAttributes]:
        out: dict[int, RowAttributes] = {}
        if not self.path.exists():
            return out
        with self.path.open(encoding="utf-8") as f:
            for line in f:
                try:
                    d = json.loads(line)
                except ValueError:
                    continue  # a line torn by a kill mid-write: that row is asked again
                out[int(d["o"])] = RowAttributes(int(d["o"]), list(d["q"]), list(d["r"]), int(d["calls"]))
        return out

    def append(self, rows: list[RowAttributes]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        torn = False
        if self.path.exists() and self.path.stat().st_size:
            with self.path.open("rb") as f:
                f.seek(-1, os.SEEK_END)
                torn = f.read(1) != b"\n"  # a kill mid-write: end that line, or it swallows the next
        with self.path.open("a", encoding="utf-8") as f:
            f.write("\n" if torn else "")
            f.write("".join(json.dumps({"o": r.ordinal, "q": r.query, "r": r.response, "calls": r.calls},
                                       ensure_ascii=False) + "\n" for r in rows))
            f.flush()
            os.fsync(f.fileno())


@dataclass
class AttributeIndex:
    rows: np.ndarray  # ordinals of the rows described (ascending)
    query_row: np.ndarray  # each query attribute's position in `rows`
    query_cluster: np.ndarray  # each query attribute's cluster
    response_row: np.ndarray  # each response attribute's position in `rows` (its FAISS id's row)
    centroids: np.ndarray
    summaries: list[str]
    sizes: list[int]

    @property
    def k(self) -> int:
        return len(self.summaries)

    @cached_property
    def membership(self) -> np.ndarray:
        """rows × clusters: the row has a query attribute in the cluster (built once per load)."""
        m = np.zeros((len(self.rows), self.k), dtype=bool)
        m[self.query_row, self.query_cluster] = True
        return m

    @cached_property
    def base_counts(self) -> np.ndarray:
        """Rows with a query attribute in each cluster."""
        return np.asarray(self.membership.sum(axis=0), dtype=np.int64)

    def save(self, dataset_dir: Path) -> None:
        folder = dataset_dir / FOLDER
        tmp = folder / "index.tmp.npz"
        np.savez(tmp, rows=self.rows, query_row=self.query_row, query_cluster=self.query_cluster,
                 response_row=self.response_row, centroids=self.centroids)
        tmp.replace(folder / "index.npz")
        (folder / "clusters.json").write_text(json.dumps(
            [{"cluster": i, "summary": s, "size": n} for i, (s, n) in enumerate(zip(
                self.summaries, self.sizes, strict=True))], ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, dataset_dir: Path) -> AttributeIndex:
        folder = dataset_dir / FOLDER
        z = np.load(folder / "index.npz")
        clusters = json.loads((folder / "clusters.json").read_text(encoding="utf-8"))
        return cls(z["rows"], z["query_row"], z["query_cluster"], z["response_row"], z["centroids"],
                   [c["summary"] for c in clusters], [c["size"] for c in clusters])

    @staticmethod
    def exists(dataset_dir: Path) -> bool:
        folder = dataset_dir / FOLDER
        return (folder / "index.npz").exists() and (folder / "responses.faiss").exists()


async def build(described: dict[int, RowAttributes], embed: Embed, ask: Ask, clusters: int,
                dataset_dir: Path, exact_limit: int) -> dict[str, Any]:
    """Embed, cluster and summarise the query attributes; index the response attributes."""
    rows = np.array(sorted(o for o, r in described.items() if r.ok), dtype=np.int64)
    if len(rows) == 0:
        raise ValueError("no row has usable attributes: nothing to cluster")
    at = {int(o): i for i, o in enumerate(rows)}
    q_text = [(at[o], t) for o in rows.tolist() for t in described[o].query]
    r_text = [(at[o], t) for o in rows.tolist() for t in described[o].response]
    q_vec = embed([t for _, t in q_text])
    found: Clusters = await cluster_and_summarise([t for _, t in q_text], q_vec, ask, clusters)
    r_vec = embed([t for _, t in r_text])
    index = VectorIndex.create(r_vec.shape[1], len(r_text), exact_limit)
    index.add(r_vec, np.arange(len(r_text), dtype=np.int64))
    (dataset_dir / FOLDER).mkdir(parents=True, exist_ok=True)
    index.save(dataset_dir / FOLDER / "responses.faiss")
    AttributeIndex(rows, np.array([i for i, _ in q_text], dtype=np.int64), found.assign.astype(np.int64),
                   np.array([i for i, _ in r_text], dtype=np.int64), found.centroids, found.summaries,
                   found.sizes).save(dataset_dir)
    return {"rows": len(rows), "query_attributes": len(q_text), "response_attributes": len(r_text),
            "clusters": len(found.summaries), "summary_calls": found.stats["auditor_calls"],
            "summary_failures": found.stats["failures"]}
