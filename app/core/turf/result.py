"""What a trace returns: plain models, importable without the statistics (the API's schemas
and the web pages read them; only computing a trace needs scipy)."""

from __future__ import annotations

from pydantic import BaseModel, Field


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

    def rank(self) -> tuple[float, int]:
        """Most enriched first: by the odds ratio's lower bound, then by hits."""
        return -self.odds_ratio_ci[0], -self.hits


ATTRIBUTE_METHOD = ("crux response attributes (auditor) → k nearest response attributes (FAISS) → their rows "
          "counted per query cluster; enrichment = hit share / base rate with a Wilson 95% interval, "
          "one-sided Fisher exact p, BH over clusters")


class ClusterHits(BaseModel):
    cluster: int
    summary: str
    hits: int = Field(description="Retrieved rows with a query attribute in this cluster.")
    rows: int = Field(description="Retrieved rows in all.")
    base_rate: float = Field(description="Share of all described rows with a query attribute here.")
    enrichment: float | None = Field(description="(hits / rows) / base_rate.")
    ci_low: float | None = Field(description="Wilson 95% interval of the hit share, over base_rate.")
    ci_high: float | None
    p_value: float = Field(description="One-sided Fisher exact test (retrieved vs the other rows).")
    q_value: float = Field(description="BH over the clusters.")


class Crux(BaseModel):
    attribute: str
    k: int = Field(description="Response attributes retrieved (the paper's 1000, or all there are).")
    rows: int = Field(description="Distinct rows they belong to.")
    clusters: list[ClusterHits] = Field(description="Most hits first (the ten most).")


class AttributeTrigger(BaseModel):
    cluster: int
    summary: str
    hits: int
    k: int = Field(description="Rows retrieved over every crux together.")
    enrichment: float | None
    ci_low: float | None
    ci_high: float | None
    q_value: float
    chunks: dict[str, int] = Field(description="Where the hits in this cluster come from: chunk → rows.")


class AttributeTrace(BaseModel):
    crux: list[Crux]
    failing_clusters: list[int] = Field(description="Clusters the failing queries' own attributes fall in.")
    trigger: AttributeTrigger | None = Field(description="Null when no cluster is significantly "
                                             "enriched (q > alpha).")
    described_rows: int
    statement: str
    method: str = ATTRIBUTE_METHOD


TRACE_SCHEMA_VERSION = 1


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
    exemplars: list[Exemplar] = Field(default_factory=list, description="Positives from the top "
                                      "chunk (or any), filled in by the caller that holds the rows.")
    attribute_trace: AttributeTrace | None = Field(default=None, description="The paper's method, when "
                                                   "the dataset has attributes (`surfturf turf "
                                                   "attributes`) and the request's method allows it.")
