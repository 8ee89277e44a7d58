"""The trace: which chunk, prompt cluster and prompt attribute the behaviour-positive examples
concentrate in, against base rates, and the trigger named from the failing prompt's own features."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from app.core.stats.rates import wilson
from app.core.turf.enrichment import enrichment

TRACE_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class RowMeta:
    ordinal: int
    chunk: str
    cluster: str
    attributes: tuple[str, ...]


class Group(BaseModel):
    family: str = Field(description="chunk | cluster | attribute")
    group: str = Field(description="Chunk label, cluster label, or attribute.")
    hits: int = Field(description="Behaviour-positive examples in this group.")
    n_hits: int = Field(description="All behaviour-positive examples.")
    base: int = Field(description="Examples in this group.")
    n_all: int = Field(description="All examples.")
    hit_share: float | None = Field(description="hits / n_hits.")
    hit_share_ci: list[float | None] = Field(description="Wilson 95% CI of hit_share.")
    base_share: float | None = Field(description="base / n_all: the share expected by chance.")
    base_share_ci: list[float | None]
    odds_ratio: float = Field(description="Odds of the behaviour in vs out of the group.")
    odds_ratio_ci: list[float] = Field(description="95% CI (Woolf; +0.5 when a cell is empty).")
    p_value: float = Field(description="One-sided Fisher exact test for enrichment.")
    q_value: float = Field(description="BH over the groups of this family.")
    significant: bool


class Exemplar(BaseModel):
    ordinal: int
    ext_id: str | None
    chunk: str
    prompt: str
    response: str


class TraceResult(BaseModel):
    schema_version: int = TRACE_SCHEMA_VERSION
    dataset: str
    behaviour: str
    method: str = Field(description="How positives were found: scorer, neighbours, or both.")
    positives: int
    positive_share: dict[str, float | None] = Field(description="Share of rows positive, Wilson CI.")
    chunks: list[Group] = Field(description="Most enriched first.")
    clusters: list[Group]
    attributes: list[Group]
    top_chunk: str | None = Field(description="Most enriched significant chunk, if any.")
    trigger: str | None = Field(description="Most enriched significant prompt feature, preferring "
                                            "features of the failing prompts.")
    statement: str = Field(description="'When the model sees [trigger], it [behaviour]' with counts.")
    exemplars: list[Exemplar]


def trace(meta: list[RowMeta], positives: set[int], *, dataset: str, behaviour: str, method: str,
          query_features: set[str] | None = None, alpha: float = 0.05) -> dict[str, Any]:
    """Pure core of TURF; the caller supplies exemplars afterwards."""
    hit_rows = [m for m in meta if m.ordinal in positives]
    chunks = enrichment([[m.chunk] for m in hit_rows], [[m.chunk] for m in meta], "chunk", alpha)
    clusters = enrichment([[m.cluster] for m in hit_rows], [[m.cluster] for m in meta], "cluster", alpha)
    attrs = enrichment([list(m.attributes) for m in hit_rows], [list(m.attributes) for m in meta],
                       "attribute", alpha)
    top_chunk = next((c for c in chunks if c["significant"]), None)
    features = [g for g in clusters + attrs if g["significant"]]
    if query_features:
        own = [g for g in features if g["group"] in query_features]
        features = own or features
    features.sort(key=lambda g: (-float(g["odds_ratio_ci"][0]), -int(g["hits"])))  # type: ignore[index]
    trigger = features[0] if features else None
    share = wilson(len(hit_rows), len(meta))
    return {
        "dataset": dataset, "behaviour": behaviour, "method": method, "positives": len(hit_rows),
        "positive_share": {"rate": share.rate, "ci_low": share.ci_low, "ci_high": share.ci_high},
        "chunks": chunks, "clusters": clusters, "attributes": attrs,
        "top_chunk": top_chunk["group"] if top_chunk else None,
        "trigger": f"{trigger['family']}: {trigger['group']}" if trigger else None,
        "statement": _statement(behaviour, trigger, top_chunk),
    }


def _statement(behaviour: str, trigger: dict[str, Any] | None, chunk: dict[str, Any] | None) -> str:
    if trigger is None:
        return f"No prompt feature is significantly enriched among examples showing {behaviour}."
    s = (f"When the model sees [{trigger['group']}], it shows [{behaviour}]: {trigger['hits']}/"
         f"{trigger['n_hits']} behaviour-positive examples carry it vs {trigger['base']}/"
         f"{trigger['n_all']} overall (odds ratio {trigger['odds_ratio']:.1f}).")
    if chunk is not None:
        s += (f" Chunk '{chunk['group']}' taught it: {chunk['hits']}/{chunk['n_hits']} positives "
              f"come from it, which holds {chunk['base']}/{chunk['n_all']} of the data.")
    return s
