"""What to trace: a behaviour (scorer and/or failing examples), optionally an audit finding."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from app.core.strict import Strict
from app.core.surf.spec import BehaviourSpec
from app.core.user_regex import UserRegexError, compile_user_regex


class TraceExample(Strict):
    prompt: str | None = Field(default=None, description="The failing prompt (maps to its features).")
    response: str = Field(min_length=1, description="The response that showed the behaviour.")


class TraceRequest(Strict):
    dataset: str = Field(description="Dataset name or id.")
    behaviour_name: str = Field(min_length=1, max_length=200)
    behaviour: BehaviourSpec | None = Field(default=None, description="Scorer run over every "
                                            "training response to find behaviour-positive rows; "
                                            "without it, the k nearest responses to the examples.")
    examples: list[TraceExample] = Field(default_factory=list, max_length=100)
    k: int = Field(default=1000, ge=1, le=100_000, description="Nearest training responses per "
                   "example (capped at 10% of the dataset), when no scorer is given.")
    prompt_features: dict[str, str] = Field(
        default_factory=dict, description="Your own suspected triggers: name → regex over the "
        "training prompt (and system prompt); counted as attribute `custom:name`.")
    alpha: float = Field(default=0.05, gt=0, lt=1)
    finding: dict[str, Any] | None = Field(default=None, description="The audit finding traced.")
    method: Literal["auto", "attributes", "groups"] = Field(
        default="auto", description="groups: chunks, prompt clusters and lexical attributes (always "
        "computed); attributes: also the paper's crux retrieval over the dataset's LLM-written "
        "attributes (`surfturf turf attributes` first; needs the auditor); auto: attributes when "
        "the dataset has them and an auditor is configured.")

    @model_validator(mode="after")
    def _something_to_trace(self) -> TraceRequest:
        if self.behaviour is None and not self.examples:
            raise ValueError("give a behaviour scorer, examples, or both")
        for name, rx in self.prompt_features.items():
            try:
                compile_user_regex(rx)
            except UserRegexError as exc:
                raise ValueError(f"prompt_features.{name}: {exc}") from None
        return self


class NoSuchFinding(ValueError):
    """The report has no finding of that feature and behaviour; the message lists those it has."""


def from_report(report: dict[str, Any], dataset: str, feature: str, behaviour: str,
                level: str | None = None) -> TraceRequest:
    """Take the finding, its scorer and its elicited examples from an audit report."""
    found = [f for f in report["findings"] if f["feature"] == feature and f["behaviour"] == behaviour
             and (level is None or f["level"] == level)]
    if not found:
        have = sorted({f"{f['feature']}/{f['behaviour']}" for f in report["findings"]})
        raise NoSuchFinding(f"no finding for feature {feature!r} and behaviour {behaviour!r} in the report; "
                         f"it has (feature/behaviour): {', '.join(have) or 'none'}")
    finding = max(found, key=lambda f: abs(f["effect"] or 0.0))  # not-estimable findings have none
    examples = []
    for cell in report.get("cells", []):
        if cell["levels"].get(feature) != finding["level"]:
            continue
        for ex in cell["examples"]:
            if ex["elicited"].get(behaviour):
                examples.append(TraceExample(prompt=ex["messages"][-1]["content"], response=ex["response"]))
    for ex in finding.get("examples", []):
        if ex["elicited"].get(behaviour):
            examples.append(TraceExample(prompt=ex["messages"][-1]["content"], response=ex["response"]))
    spec = report.get("behaviours", {}).get(behaviour)
    return TraceRequest(dataset=dataset, behaviour_name=behaviour,
                        behaviour=BehaviourSpec.model_validate(spec) if spec else None,
                        examples=examples[:20],
                        finding={k: finding[k] for k in ("feature", "level", "baseline", "behaviour",
                                                         "effect", "ci_low", "ci_high", "q_value",
                                                         "verdict") if k in finding})
