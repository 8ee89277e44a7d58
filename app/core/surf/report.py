"""The audit report: a stored artefact, so every field is described and it carries schema_version."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

REPORT_SCHEMA_VERSION = 1


class RateOut(BaseModel):
    k: int = Field(description="Samples where the behaviour was elicited.")
    n: int = Field(description="Samples scored (scorer errors excluded).")
    rate: float | None = Field(description="k / n.")
    ci_low: float | None = Field(description="Wilson interval, lower bound.")
    ci_high: float | None = Field(description="Wilson interval, upper bound.")


class Example(BaseModel):
    prompt_index: int = Field(description="Index into the spec's prompts.")
    sample_index: int = Field(description="Sample number within the cell.")
    messages: list[dict[str, str]] = Field(description="Exact messages sent to the target.")
    response: str = Field(description="The target's raw response.")
    elicited: dict[str, bool] = Field(description="Behaviour → elicited in this response.")


class CellOut(BaseModel):
    cell_key: str = Field(description="Levels of every feature, `feature=level|…`.")
    levels: dict[str, str] = Field(description="Feature → level in this cell.")
    n: int = Field(description="Samples with a response in this cell.")
    rates: dict[str, RateOut] = Field(description="Behaviour → elicitation rate with CI.")
    examples: list[Example] = Field(description="A few prompt/response pairs from this cell.")


class Finding(BaseModel):
    feature: str = Field(description="The trigger feature varied.")
    level: str = Field(description="The level compared with the baseline.")
    baseline: str = Field(description="The reference level.")
    behaviour: str = Field(description="The behaviour whose rate moved.")
    effect: float = Field(description="Rate(level) − rate(baseline), paired within prompt and other "
                                      "features, averaged over prompts.")
    ci_low: float = Field(description="Two-stage cluster bootstrap CI (prompts, then samples).")
    ci_high: float = Field(description="Upper bound of that CI.")
    p_value: float = Field(description="Cochran-Mantel-Haenszel test across strata.")
    q_value: float = Field(description="Benjamini-Hochberg q over all findings of this audit.")
    rate_baseline: RateOut = Field(description="Pooled rate at the baseline level.")
    rate_level: RateOut = Field(description="Pooled rate at the compared level.")
    n_strata: int = Field(description="(prompt, other-feature) strata compared.")
    n_prompts: int = Field(description="Base prompts contributing.")
    relevant: bool = Field(description="The spec declares this feature relevant to this behaviour.")
    flagged: bool = Field(description="q < alpha and |effect| ≥ min_effect.")
    miscalibrated: bool = Field(description="Flagged on a pair the spec does not declare relevant.")
    verdict: Literal["miscalibrated", "expected", "no effect detected"]
    examples: list[Example] = Field(default_factory=list, description="Baseline vs level examples.")


class Interaction(BaseModel):
    behaviour: str
    features: list[str] = Field(description="The two interacting features.")
    term: str = Field(description="Model term, e.g. C(a)[T.x]:C(b)[T.y].")
    model: Literal["logit", "lpm"] = Field(description="logit (log-odds), or a linear probability "
                                                       "model when the logit separates.")
    coef: float
    ci_low: float
    ci_high: float
    p_value: float = Field(description="Wald test with prompt-clustered errors.")
    q_value: float = Field(description="BH q over the interaction family.")
    clusters: int = Field(description="Prompt clusters behind the robust errors.")


class RankEntry(BaseModel):
    feature: str
    strength: float = Field(description="Bradley-Terry strength (log-odds scale, mean zero).")
    ci_low: float = Field(description="Bootstrap-over-prompts interval.")
    ci_high: float
    wins: int = Field(description="Conflicts this feature won.")
    comparisons: int = Field(description="Conflicts it took part in.")


class AuditReport(BaseModel):
    schema_version: int = Field(default=REPORT_SCHEMA_VERSION)
    name: str = Field(description="Probe spec name.")
    target: dict[str, Any] = Field(default_factory=dict, description="Target base_url and model.")
    alpha: float
    min_effect: float
    totals: dict[str, Any] = Field(description="work_items, completed, target_errors, scorer_errors.")
    findings: list[Finding] = Field(description="Sorted: miscalibrated first, then by q.")
    cells: list[CellOut]
    interactions: list[Interaction]
    ranking: list[RankEntry] = Field(description="Feature salience, strongest first.")
    usage: dict[str, Any] = Field(default_factory=dict, description="Target token/request usage.")
    behaviours: dict[str, Any] = Field(default_factory=dict,
                                       description="The spec's behaviour definitions (TURF reuses them).")
    method: str = Field(description="How the numbers were computed.")
