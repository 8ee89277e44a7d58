"""search.json: what a search found, version 1 (JSON Schema: `surfturf search schema --result`,
docs/search-result.schema.json). Ranking and examples are descriptive; `discoveries` carry the
confirmation audit's controlled verdicts."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.core.surf.report import TargetRef


class RankedAttribute(BaseModel):
    rank: int
    attribute: str
    text: str
    category: str | None = None
    n: int = Field(description="Judged candidates that carried it.")
    mean_score: float | None = Field(description="Mean judge score (0-100) over those candidates.")
    ci_low: float | None = Field(description="95% t-interval over candidates.")
    ci_high: float | None
    violations: int = Field(description="Candidates scored above the judge's threshold.")
    violation_share: float | None
    violation_share_ci: list[float | None] | None = Field(description="Wilson 95% interval.")
    lift: float | None = Field(description="Mean score with it minus without it.")


class ExampleAttribute(BaseModel):
    attribute: str
    text: str


class TopExample(BaseModel):
    score: float | None
    attributes: list[ExampleAttribute]
    prompt: str | None
    system: str | None
    response: str | None
    run: int
    iteration: int


class CurvePoint(BaseModel):
    run: int
    iteration: int
    candidates: int
    scored: int
    best: float
    mean: float | None
    buffer_best: float | None


class ConfirmedFinding(BaseModel):
    attribute: str
    effect: float | None = Field(description="Rate of the judged behaviour, present minus absent.")
    ci_low: float | None = Field(description="FCR-adjusted interval, as the audit's verdict reads it.")
    ci_high: float | None
    q_value: float | None
    verdict: str
    flagged: bool
    rate_present: dict[str, Any]
    rate_absent: dict[str, Any]
    confirmed: bool = Field(description="Flagged, as an increase: the discovery holds under control.")


class Confirmation(BaseModel):
    audit_id: str
    status: str = Field(description="The audit's: completed, failed or cancelled.")
    error: str | None = None
    prompts: int = Field(description="Held-out prompts it ran on (never searched on).")
    findings: list[ConfirmedFinding]


class Discovery(BaseModel):
    attribute: str
    text: str
    search_rank: int
    mean_score: float | None
    confirmed: bool | None = Field(description="null when no confirmation ran.")
    effect: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    verdict: str | None = None


class Usage(BaseModel):
    candidates: int
    planned: int
    target_calls: int
    auditor_calls: int
    failures: dict[str, int] = Field(description="query (query model), judge (unparseable score, "
                                     "each retried once), target (errors).")


class RecordsUsed(BaseModel):
    source: str = Field(description="The file (or folder) read, or `inline`.")
    column: str
    records: int = Field(description="Records with at least one attribute.")
    attributes: int = Field(description="Distinct attribute texts.")
    with_prompts: bool


class SearchResult(BaseModel):
    schema_version: Literal[1] = 1
    search_id: str
    name: str
    target: TargetRef
    judge: dict[str, Any]
    prompt_set: Literal["surf", "surfturf"] = Field(default="surfturf", description="The judge's and "
                                                    "query model's prompt shapes: `surf` for a "
                                                    "SURF-format rubric (scores compare with SURF's).")
    pool: list[dict[str, Any]] = Field(description="The attributes searched: a record pool's are "
                                       "those its candidates drew.")
    records: RecordsUsed | None = None
    usage: Usage
    stopped: str
    ranking: list[RankedAttribute]
    top_examples: list[TopExample]
    curve: list[CurvePoint]
    discoveries: list[Discovery] = Field(description="The top attributes sent to confirmation.")
    confirmation: Confirmation | None
