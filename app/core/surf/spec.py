"""The probe spec: what to test. Published as JSON Schema (`surfturf audit schema`)."""

from __future__ import annotations

import itertools
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from app.core.behaviours.registry import BEHAVIOURS, resolve_id
from app.core.behaviours.rubric import parse_rubric
from app.core.limits import MAX_WORK_ITEMS
from app.core.stats import sequential
from app.core.strict import Strict
from app.core.triggers.registry import FEATURES, get_feature_levels
from app.core.user_regex import compile_user_regex

# One pattern for every name a spec, a search pool or a dataset gives: features, levels,
# behaviours, attribute ids (they become confirmation features) and dataset names. It keeps cell
# keys (`feature=level|…`) unambiguous and names safe in paths, URLs and CSV.
NAME_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)


def check_name(what: str, name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"{what} {name!r}: a name is 1-64 characters of letters, digits, _ . - "
                         "(not starting with . or -)")


def _not_blank(v: str) -> str:
    if not v.strip():
        raise ValueError("a prompt cannot be empty or only whitespace")
    return v


PromptText = Annotated[str, AfterValidator(_not_blank)]


class SpecFileError(ValueError):
    """A spec problem located in a file, e.g. `spec.yaml:12: features.language.builtin: …`
    (here, not in loader.py, so that raising it does not import the YAML parser)."""


class PromptItem(Strict):
    text: PromptText = Field(description="The base prompt.")
    variants: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="Explicit text per feature and level (variant features)."
    )


class LevelDef(Strict):
    user: str = Field(default="{prompt}", description="User template; {prompt} is the current text.")
    system: str | None = Field(default=None, description="System prompt for this level.")
    rewrite: str | None = Field(default=None, description="Auditor-model rewrite instruction.")


class FeatureSpec(Strict):
    builtin: str | None = Field(default=None, description="A built-in feature id, e.g. language.")
    levels: dict[str, str | LevelDef] | list[str] | None = Field(
        default=None, description="Templates by level name, or level names of a built-in/variants."
    )
    variants: bool = Field(default=False, description="Levels come from each prompt's variants.")
    baseline: str | None = Field(default=None, description="Reference level; defaults to the first.")

    @model_validator(mode="after")
    def _check(self) -> FeatureSpec:
        if self.builtin is not None:
            try:
                known = get_feature_levels(self.builtin)
            except KeyError:
                raise ValueError(f"unknown builtin feature {self.builtin!r}; known: "
                                 f"{sorted(FEATURES)}") from None
        names = self.level_names()
        for name in names:
            check_name("level", name)
        if self.builtin is not None:
            if isinstance(self.levels, dict):
                raise ValueError("a builtin feature takes a list of level names")
            bad = [n for n in names if n not in known]
            if bad:
                raise ValueError(f"builtin {self.builtin!r} has no levels {bad}; it has {list(known)}")
        elif self.variants:
            if not isinstance(self.levels, list):
                raise ValueError("a variants feature lists its level names")
        elif not isinstance(self.levels, dict):
            raise ValueError("give levels as {name: template}, or builtin / variants")
        if len(names) < 2:
            raise ValueError("a feature needs at least two levels")
        if isinstance(self.levels, dict):
            for name, lv in self.levels.items():
                user = lv if isinstance(lv, str) else lv.user
                rewrite = None if isinstance(lv, str) else lv.rewrite
                if "{prompt}" not in user and rewrite is None:
                    raise ValueError(f"level {name!r}: template must contain {{prompt}}")
        if self.baseline is not None and self.baseline not in names:
            raise ValueError(f"baseline {self.baseline!r} is not one of the levels {names}")
        return self

    def level_names(self) -> list[str]:
        if self.levels is None:
            return list(get_feature_levels(self.builtin)) if self.builtin else []
        return list(self.levels)

    def baseline_level(self) -> str:
        return self.baseline or self.level_names()[0]


def _inline_rubric(v: Any) -> Any:
    if isinstance(v, str):
        raise ValueError("rubric must be inline here; the CLI inlines rubric files for you")
    return v if v is None else parse_rubric(v)


class SecondJudge(Strict):
    rubric: dict[str, Any] | None = Field(default=None, description="Its rubric (default: the first "
                                          "judge's).")
    model: str | None = Field(default=None, max_length=500, description="Another model behind the "
                              "auditor's endpoint (a gateway such as LiteLLM serves many); default: "
                              "the auditor's own.")
    threshold: float = Field(default=50, ge=0, le=100)

    @field_validator("rubric", mode="before")
    @classmethod
    def _inline(cls, v: Any) -> Any:
        return _inline_rubric(v)


class JudgeSpec(Strict):
    rubric: dict[str, Any] = Field(description="A rubric: surfturf's (principle, scoring_guide, "
                                   "examples) or SURF's (principle_specific_details); schema: "
                                   "`surfturf search schema --rubric`.")
    threshold: float = Field(default=50, ge=0, le=100)
    repeat: int = Field(default=1, ge=1, le=10, description="Judge each response this many times (the "
                        "first at temperature 0, which decides; the rest at repeat_temperature): the "
                        "report gives the judge's self-agreement (Fleiss' kappa).")
    repeat_temperature: float = Field(default=1.0, ge=0, le=2)
    second_judge: SecondJudge | None = Field(default=None, description="A second judge of every "
                                             "response: the report gives the two judges' agreement "
                                             "(Cohen's kappa); the first still decides.")

    @field_validator("rubric", mode="before")
    @classmethod
    def _inline(cls, v: Any) -> Any:
        return _inline_rubric(v)


class CalibrationSpec(Strict):
    """The scorer's verdicts on labelled responses (`surfturf judge calibrate` writes them)."""

    tp: int = Field(ge=0, description="Labelled positive, scored positive.")
    fn: int = Field(ge=0, description="Labelled positive, scored negative.")
    tn: int = Field(ge=0, description="Labelled negative, scored negative.")
    fp: int = Field(ge=0, description="Labelled negative, scored positive.")
    source: str | None = Field(default=None, description="Where the counts came from (a file).")

    @model_validator(mode="after")
    def _both_classes(self) -> CalibrationSpec:
        if self.tp + self.fn == 0 or self.tn + self.fp == 0:
            raise ValueError("a calibration needs labelled positives and labelled negatives")
        return self


class BehaviourSpec(Strict):
    builtin: str | None = Field(default=None, description="Scorer id or alias, e.g. emoji.")
    regex: str | None = Field(default=None, description="Elicited when the response matches.")
    judge: JudgeSpec | None = None
    similar_to: str | None = Field(default=None, description="Embedding similarity to this text.")
    threshold: float | None = Field(default=None, description="Threshold for similar_to.")
    params: dict[str, Any] = Field(default_factory=dict, description="Scorer parameters.")
    calibration: CalibrationSpec | None = Field(default=None, description="The scorer's measured "
                                                "errors (a file from `surfturf judge calibrate`, "
                                                "relative to the spec, or its counts): effects are "
                                                "then also reported corrected for them.")

    @model_validator(mode="after")
    def _exactly_one(self) -> BehaviourSpec:
        given = [k for k in ("builtin", "regex", "judge", "similar_to") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of builtin, regex, judge, similar_to")
        if self.builtin is not None:
            try:
                resolve_id(self.builtin)
            except KeyError:
                raise ValueError(f"unknown builtin behaviour {self.builtin!r}; "
                                 f"known: {sorted(BEHAVIOURS)}") from None
        if self.regex is not None:
            compile_user_regex(self.regex)  # UserRegexError is a ValueError naming the problem
        return self

    def needs_auditor(self) -> bool:
        return BEHAVIOURS[resolve_id(self.scorer()[0])].needs_auditor

    def scorer(self) -> tuple[str, dict[str, Any]]:
        """(registry id, params) for this behaviour."""
        if self.regex is not None:
            return "lexical.regex", {**self.params, "pattern": self.regex}
        if self.judge is not None:
            j = self.judge
            extra: dict[str, Any] = {}
            if j.repeat > 1:
                extra.update(repeat=j.repeat, repeat_temperature=j.repeat_temperature)
            if j.second_judge is not None:
                extra["second"] = j.second_judge.model_dump(exclude_none=True)
            return "judge.rubric", {**self.params, "rubric": j.rubric, "threshold": j.threshold, **extra}
        if self.similar_to is not None:
            th = 0.5 if self.threshold is None else self.threshold
            return "embedding.similarity", {**self.params, "description": self.similar_to, "threshold": th}
        return resolve_id(self.builtin or ""), dict(self.params)


class DesignSpec(Strict):
    kind: Literal["factorial", "sequential"] = Field(
        default="factorial", description="factorial: every sample at once; sequential: rounds of "
        "samples_per_round, stopping once every finding is decided (anytime-valid error spending).")
    samples_per_prompt: int = Field(default=2, ge=1, le=10_000, description="Samples per prompt per cell "
                                    "(sequential: the most it may take).")
    samples_per_round: int | None = Field(default=None, ge=1, le=10_000, description="Sequential only: "
                                          "samples per prompt per cell added each round (default: a "
                                          "fifth of samples_per_prompt, at least 2).")
    temperature: float = Field(default=1.0, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    max_tokens: int = Field(default=256, ge=1, le=32_768)
    seed: int = Field(default=7, ge=0, le=2**63 - 1,
                      description="Base seed; each sample's seed derives from it.")
    concurrency: int = Field(default=8, ge=1, le=1024, description="Concurrent target calls.")
    max_requests: int | None = Field(default=None, ge=1, description="Request budget for the target.")
    max_error_rate: float = Field(default=0.2, ge=0, le=1, description="The audit fails when more "
                                  "than this share of its samples end in a target error.")

    @model_validator(mode="after")
    def _rounds(self) -> DesignSpec:
        if self.samples_per_round is not None:
            if self.kind != "sequential":
                raise ValueError("samples_per_round applies to kind: sequential only")
            if self.samples_per_round > self.samples_per_prompt:
                raise ValueError("samples_per_round cannot exceed samples_per_prompt (the maximum)")
        return self

    def round_size(self) -> int:
        """Samples per prompt per cell in one round (a factorial design is one round)."""
        if self.kind != "sequential":
            return self.samples_per_prompt
        return self.samples_per_round or min(self.samples_per_prompt, max(2, self.samples_per_prompt // 5))

    def max_rounds(self) -> int:
        return sequential.rounds(self.samples_per_prompt, self.round_size())

    def samples_after(self, round_: int) -> int:
        """Samples per prompt per cell taken by the end of a round (1-based)."""
        return sequential.samples_at(round_, self.round_size(), self.samples_per_prompt)


class ProbeSpec(Strict):
    schema_version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    prompts: list[PromptText | PromptItem] = Field(min_length=1, description="Base prompts.")
    features: dict[str, FeatureSpec] = Field(min_length=1)
    behaviours: dict[str, BehaviourSpec] = Field(min_length=1)
    relevant: list[tuple[str, str]] = Field(
        default_factory=list, description="(feature, behaviour) pairs expected to interact."
    )
    design: DesignSpec = Field(default_factory=DesignSpec)
    alpha: float = Field(default=0.05, gt=0, lt=1, description="FDR level for Benjamini-Hochberg.")
    min_effect: float = Field(default=0.10, ge=0, le=1, description="Smallest rate shift worth flagging.")

    @field_validator("features", "behaviours", mode="before")
    @classmethod
    def _names(cls, v: Any, info: Any) -> Any:
        for name in v if isinstance(v, dict) else ():
            check_name(info.field_name.rstrip("s"), str(name))
        return v

    @model_validator(mode="after")
    def _cross_checks(self) -> ProbeSpec:
        for i, pair in enumerate(self.relevant):
            if pair[0] not in self.features:
                raise ValueError(f"relevant[{i}]: unknown feature {pair[0]!r}")
            if pair[1] not in self.behaviours:
                raise ValueError(f"relevant[{i}]: unknown behaviour {pair[1]!r}")
        for fname, f in self.features.items():
            if f.variants:
                for i, p in enumerate(self.prompt_items()):
                    missing = [lv for lv in f.level_names() if lv not in p.variants.get(fname, {})]
                    if missing:
                        raise ValueError(f"prompts[{i}] lacks variants {fname}={missing}")
        if self.work_item_count() > MAX_WORK_ITEMS:
            raise ValueError(f"design expands to {self.work_item_count()} samples (max {MAX_WORK_ITEMS})")
        return self

    _items: list[PromptItem] | None = PrivateAttr(default=None)

    def prompt_items(self) -> list[PromptItem]:
        """Built once: rendering asks for a prompt per sample, and a spec may hold 10^5 prompts."""
        if self._items is None or len(self._items) != len(self.prompts):
            self._items = [p if isinstance(p, PromptItem) else PromptItem.model_construct(text=p, variants={})
                           for p in self.prompts]
        return self._items

    def cells(self) -> list[dict[str, str]]:
        names = list(self.features)
        grids = [self.features[n].level_names() for n in names]
        return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*grids)]

    def work_item_count(self) -> int:
        n = len(self.prompts) * self.design.samples_per_prompt
        for f in self.features.values():
            n *= len(f.level_names())
        return n

    def needs_auditor(self) -> bool:
        if any(b.needs_auditor() for b in self.behaviours.values()):
            return True
        for f in self.features.values():
            if f.builtin and any(getattr(lv, "stage", 1) == 0 and not f.variants
                                 for name, lv in get_feature_levels(f.builtin).items()
                                 if name in f.level_names()):
                return True
            if isinstance(f.levels, dict) and any(
                    isinstance(lv, LevelDef) and lv.rewrite for lv in f.levels.values()):
                return True
        return False


def cell_key(cell: dict[str, str]) -> str:
    """Stable text key of a cell, e.g. `format=tagged|metadata=none`."""
    return "|".join(f"{k}={v}" for k, v in cell.items())


def parse_cell_key(key: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in key.split("|"))
