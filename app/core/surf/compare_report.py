"""compare.json: what `audit compare` and GET /v1/audits/{a}/compare/{b} return, version 1. Kept
apart from the computation (compare.py) so that the API declares it without the scientific stack."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

METHOD = (
    "Paired by prompt. Per prompt, each audit's effect of a level on a behaviour is computed as in "
    "its report (the rate difference level minus baseline within strata of the other features, "
    "averaged over strata). The difference is the mean over prompts of candidate minus baseline "
    "per-prompt effects; its interval and test are the one-sample t-interval and t-test over those "
    "prompt-level differences (df = prompts - 1; when every prompt changed alike, the two audits' "
    "binomial sampling variances stand in for the zero between-prompt variance). FDR: "
    "Benjamini-Hochberg over the spec's family. Verdicts read the Benjamini-Yekutieli FCR-adjusted "
    "interval (level 1 - R*alpha/m) against +/-min_effect: selected and wholly above = grew, wholly "
    "below = shrank; wholly inside = unchanged; otherwise inconclusive.")

ChangeVerdict = Literal["grew", "shrank", "unchanged", "inconclusive", "not estimable"]


class ChangeFinding(BaseModel):
    feature: str
    level: str
    baseline: str = Field(description="The feature's reference level.")
    behaviour: str
    baseline_effect: float | None = Field(description="The baseline audit's effect (its report's).")
    candidate_effect: float | None = Field(description="The candidate audit's effect.")
    difference: float | None = Field(description="Mean over prompts of candidate − baseline per-prompt "
                                     "effects.")
    se: float | None = Field(description="Standard error from the variation between prompts.")
    df: int | None = Field(description="Prompts compared − 1.")
    ci_low: float | None = Field(description="Marginal 1 − alpha t-interval of the difference.")
    ci_high: float | None
    ci_adj_level: float = Field(description="Confidence level of the FCR-adjusted interval.")
    ci_adj_low: float | None = Field(description="FCR-adjusted interval; the verdict reads this one.")
    ci_adj_high: float | None
    p_value: float = Field(description="Two-sided paired t-test over prompts (1 when not estimable).")
    q_value: float = Field(description="Benjamini-Hochberg q over the family.")
    n_prompts: int = Field(description="Prompts paired.")
    verdict: ChangeVerdict
    reason: str | None = Field(default=None, description="Why it is not estimable.")


class CompareFamily(BaseModel):
    size: int
    selected: int
    fcr_level: float
    definition: str = "every non-baseline level of every feature x every behaviour"


class PromptsCompared(BaseModel):
    paired: int = Field(description="Prompts in both audits, compared.")
    common_only: bool = Field(description="The specs' prompts differed and only those in both were "
                              "compared (--common-prompts).")
    baseline_only: int = 0
    candidate_only: int = 0


class CompareReport(BaseModel):
    schema_version: Literal[1] = 1
    name: str
    baseline_audit_id: str | None = None
    candidate_audit_id: str | None = None
    alpha: float
    min_effect: float
    prompts: PromptsCompared
    sampling_differences: dict[str, list[Any]] = Field(
        default_factory=dict, description="Sampling settings that differ: [baseline, candidate].")
    family: CompareFamily
    findings: list[ChangeFinding]
    method: str = METHOD
