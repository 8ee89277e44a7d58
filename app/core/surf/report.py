"""The audit report: a stored artefact, so every field is described and it carries schema_version."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.core.surf.spec import BehaviourSpec

REPORT_SCHEMA_VERSION = 2


class RateOut(BaseModel):
    k: int = Field(description="Samples where the behaviour was elicited.")
    n: int = Field(description="Samples scored (scorer errors excluded).")
    rate: float | None = Field(description="k / n.")
    ci_low: float | None = Field(description="Wilson interval at the effective sample size n / "
                                             "design_effect with a t(clusters-1) critical value.")
    ci_high: float | None = Field(description="Upper bound of that interval.")
    clusters: int | None = Field(default=None, description="Prompts behind the rate.")
    design_effect: float | None = Field(default=None, description="Cluster-robust over binomial "
                                        "variance of the pooled rate (at least 1).")


class Message(BaseModel):
    role: str = Field(description="system, user or assistant.")
    content: str


class Example(BaseModel):
    prompt_index: int = Field(description="Index into the spec's prompts.")
    sample_index: int = Field(description="Sample number within the cell.")
    messages: list[Message] = Field(description="Exact messages sent to the target.")
    response: str = Field(description="The target's raw response.")
    elicited: dict[str, bool] = Field(description="Behaviour → elicited in this response.")


class CellOut(BaseModel):
    cell_key: str = Field(description="Levels of every feature, `feature=level|…`.")
    levels: dict[str, str] = Field(description="Feature → level in this cell.")
    n: int = Field(description="Samples with a response in this cell.")
    rates: dict[str, RateOut] = Field(description="Behaviour → elicitation rate with CI.")
    examples: list[Example] = Field(description="A few prompt/response pairs from this cell.")


Verdict = Literal["miscalibrated", "expected", "negligible", "inconclusive", "not estimable"]


class Finding(BaseModel):
    feature: str = Field(description="The trigger feature varied.")
    level: str = Field(description="The level compared with the baseline.")
    baseline: str = Field(description="The reference level.")
    behaviour: str = Field(description="The behaviour whose rate moved.")
    effect: float | None = Field(description="Mean over prompts of the per-prompt rate difference "
                                             "(level − baseline, within strata of the other features).")
    se: float | None = Field(description="Standard error from the variation between prompts.")
    df: int | None = Field(description="Degrees of freedom of the t reference (prompts − 1).")
    ci_low: float | None = Field(description="Prompt-level t-interval at 1 − alpha (1 − alpha_r at "
                                             "look r of a sequential design), unadjusted.")
    ci_high: float | None = Field(description="Upper bound of that interval.")
    ci_adj_level: float = Field(description="Confidence level of the FCR-adjusted interval "
                                            "(1 − R·alpha/m, Benjamini-Yekutieli).")
    ci_adj_low: float | None = Field(description="FCR-adjusted interval; the verdict reads this one.")
    ci_adj_high: float | None = Field(description="Upper bound of the FCR-adjusted interval.")
    p_value: float = Field(description="Two-sided t-test over prompts (1 when not estimable).")
    q_value: float = Field(description="Benjamini-Hochberg q over the whole family (see `family`).")
    rate_baseline: RateOut = Field(description="Pooled rate at the baseline level, prompt-clustered CI.")
    rate_level: RateOut = Field(description="Pooled rate at the compared level, prompt-clustered CI.")
    n_strata: int = Field(description="(prompt, other-feature) strata compared.")
    n_prompts: int = Field(description="Base prompts contributing.")
    relevant: bool = Field(description="The spec declares this feature relevant to this behaviour.")
    flagged: bool = Field(description="q ≤ alpha and the adjusted interval lies wholly beyond "
                                      "±min_effect.")
    miscalibrated: bool = Field(description="Flagged on a pair the spec does not declare relevant.")
    verdict: Verdict = Field(description="miscalibrated/expected: flagged; negligible: the adjusted "
                             "interval lies inside ±min_effect; inconclusive: it straddles "
                             "±min_effect; not estimable: see `reason`.")
    reason: str | None = Field(default=None, description="Why the finding is not estimable.")
    effect_corrected: float | None = Field(default=None, description="With a calibrated scorer "
                                           "(the behaviour's `calibration`): the effect corrected for "
                                           "its errors, effect / (sensitivity + specificity − 1).")
    ci_corrected_low: float | None = Field(default=None, description="Its interval at the adjusted "
                                           "interval's level (ci_adj_level), carrying the prompts' and "
                                           "the calibration's uncertainty (delta method).")
    ci_corrected_high: float | None = Field(default=None, description="Upper bound of that interval.")
    correction: str | None = Field(default=None, description="The scorer's measured errors behind the "
                                   "correction, and which interval the verdict read (the raw one).")
    decided_at_round: int | None = Field(default=None, description="Sequential designs: the look "
                                         "whose interval decided this finding.")
    examples: list[Example] = Field(default_factory=list, description="Baseline vs level examples.")


class AgreementOut(BaseModel):
    statistic: str = Field(description="fleiss_kappa (a judge's repeats) or cohen_kappa (two judges).")
    value: float | None = Field(description="Null when the verdicts never vary (nothing to agree on).")
    ci_low: float | None = Field(description="95% percentile bootstrap over prompts.")
    ci_high: float | None
    raw_agreement: float = Field(description="Share of responses on which every verdict is the same.")
    responses: int
    prompts: int


class JudgeReliability(BaseModel):
    """What is known of a behaviour scorer's errors: measured against labels (its calibration),
    against itself (repeats) and against a second judge."""

    behaviour: str
    sensitivity: float | None = Field(default=None, description="From the behaviour's calibration.")
    specificity: float | None = None
    calibration_items: int | None = Field(default=None, description="Labelled responses behind them.")
    self_agreement: AgreementOut | None = None
    inter_judge: AgreementOut | None = None


class Interaction(BaseModel):
    behaviour: str
    features: list[str] = Field(description="The two interacting features.")
    term: str = Field(description="Model term, e.g. C(a)[T.x]:C(b)[T.y] (statsmodels' name).")
    label: str = Field(default="", description="The term for people: `a=x × b=y` (each against its "
                       "baseline level).")
    estimable: bool = Field(description="False when the design cannot support the term (see reason).")
    reason: str | None = Field(default=None, description="Why the term is not estimable.")
    coef: float | None = Field(description="Difference in rate differences (linear probability model "
                                           "with prompt fixed effects and the other features).")
    ci_low: float | None = Field(description="t(G−1) interval with prompt-clustered CR1 errors.")
    ci_high: float | None
    p_value: float = Field(description="t-test with prompt-clustered errors (1 when not estimable).")
    q_value: float = Field(description="BH q over the interaction family.")
    significant: bool = Field(description="Estimable and q ≤ alpha.")
    clusters: int = Field(description="Prompt clusters behind the robust errors.")
    df: int | None = Field(description="Degrees of freedom of the t reference (clusters − 1).")


class RankEntry(BaseModel):
    feature: str
    strength: float = Field(description="Bradley-Terry strength (log-odds scale, mean zero).")
    ci_low: float = Field(description="Percentile bootstrap over prompts.")
    ci_high: float
    wins: int = Field(description="Conflicts this feature won.")
    comparisons: int = Field(description="Conflicts it took part in.")


class FamilyOut(BaseModel):
    definition: str = Field(description="Which findings form the FDR family.")
    size: int = Field(description="m: findings in the family, not-estimable ones included.")
    selected: int = Field(description="R: findings with q ≤ alpha (at the last look).")
    fcr_level: float = Field(description="Level of the FCR-adjusted intervals, 1 − max(R,1)·alpha/m.")


class SequentialOut(BaseModel):
    rounds_run: int = Field(description="Looks taken.")
    max_rounds: int = Field(description="Looks the budget allows.")
    samples_per_round: int = Field(description="Samples per prompt per cell added each round.")
    alpha_spent: float = Field(description="Sum of the looks' alpha_r.")
    open: list[str] = Field(description="Findings still inconclusive after the last look.")
    stopped: str | None = Field(default=None, description="Why sampling stopped.")


class Totals(BaseModel):
    work_items: int = Field(description="Samples the design plans.")
    completed: int = Field(description="Samples with a response.")
    target_errors: int = Field(description="Samples whose target call failed.")
    missing: int = Field(default=0, description="Planned samples not taken (budget, early stop).")
    scorer_errors: dict[str, int] = Field(default_factory=dict,
                                          description="Behaviour → responses its scorer failed on.")


class TargetRef(BaseModel):
    base_url: str | None = None
    model: str | None = None
    protocol: str = "openai"


class UsageOut(BaseModel):
    """Target calls summed over every attempt of the job (retries and crashes cost real calls)."""

    model_config = ConfigDict(extra="allow")
    attempts: int = Field(default=1, description="Job attempts that sampled.")
    requests: int = 0
    succeeded: int = 0
    failed: int = 0
    retries: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: dict[str, int] = Field(default_factory=dict, description="Error kind → count.")


class AuditReport(BaseModel):
    schema_version: int = Field(default=REPORT_SCHEMA_VERSION)
    audit_id: str | None = Field(default=None, description="The audit this report belongs to.")
    name: str = Field(description="Probe spec name.")
    target: TargetRef = Field(default_factory=TargetRef, description="Target base_url and model.")
    alpha: float
    min_effect: float
    totals: Totals
    family: FamilyOut | None = Field(default=None, description="The FDR family of the findings.")
    findings: list[Finding] = Field(description="Sorted: miscalibrated first, then by q.")
    cells: list[CellOut]
    interactions: list[Interaction]
    ranking: list[RankEntry] = Field(description="Feature salience, strongest first.")
    sequential: SequentialOut | None = Field(default=None, description="Sequential designs only.")
    judges: list[JudgeReliability] = Field(default_factory=list, description="Behaviours whose scorer's "
                                           "errors were measured (calibration, repeat, second_judge).")
    usage: UsageOut = Field(default_factory=UsageOut, description="Target token/request usage.")
    behaviours: dict[str, BehaviourSpec] = Field(
        default_factory=dict, description="The spec's behaviour definitions (TURF reuses them).")
    method: str = Field(description="How the numbers were computed.")
