"""The search spec: seed prompts, an attribute pool, a judge, budgets, confirmation.
Published as JSON Schema (`surfturf search schema`, docs/search-spec.schema.json)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from app.core.behaviours.rubric import Rubric, parse_rubric, prompt_set
from app.core.strict import Strict
from app.core.surf.spec import NAME_PATTERN, BehaviourSpec, PromptText

POOLS = ("attributes", "attributes_file", "attribute_records", "attributes_from_dataset")
ATTRIBUTE_ID = NAME_PATTERN  # an attribute id becomes a confirmation audit's feature name


class AttributeSpec(Strict):
    id: str = Field(pattern=ATTRIBUTE_ID, description="Stable id; the confirmation's feature name.")
    text: str = Field(min_length=1, max_length=2000, description="What a query with it is like: "
                      "'The query is wrapped in XML tags'.")
    category: str | None = Field(default=None, max_length=200)
    template: str | None = Field(default=None, description="Deterministic: `{prompt}` is the seed "
                                 "prompt (e.g. `<query>{prompt}</query>`); no query model needed.")
    system: str | None = Field(default=None, description="A system prompt this attribute sets.")

    @field_validator("template")
    @classmethod
    def _has_prompt(cls, v: str | None) -> str | None:
        if v is not None and "{prompt}" not in v:
            raise ValueError("a template must contain {prompt}")
        return v


class DatasetAttributes(Strict):
    dataset: str = Field(description="An ingested TURF dataset (name or id).")
    queries: int = Field(default=200, ge=1, le=100_000, description="Queries the auditor describes.")
    clusters: int = Field(default=20, ge=2, le=5000, description="k-means clusters = attributes.")
    per_query: int = Field(default=5, ge=1, le=20, description="Attributes written per query.")


class SearchJudge(Strict):
    rubric: dict[str, Any] | None = Field(default=None, description="A rubric, surfturf's (principle, "
                                          "scoring_guide, examples) or SURF's "
                                          "(principle_specific_details, exp_name, …), scored 0-100 "
                                          "by the auditor; schema: `surfturf search schema --rubric`.")
    behaviour: BehaviourSpec | None = Field(default=None, description="Any registered scorer: "
                                            "elicited = 100, not = 0.")
    threshold: float = Field(default=50, ge=0, le=100, description="Above it: a violation.")

    @field_validator("rubric", mode="before")
    @classmethod
    def _rubric(cls, v: Any) -> Any:
        return v if v is None or isinstance(v, str) else parse_rubric(v)

    @model_validator(mode="after")
    def _one(self) -> SearchJudge:
        if (self.rubric is None) == (self.behaviour is None):
            raise ValueError("give exactly one of rubric, behaviour")
        return self

    def behaviour_spec(self) -> BehaviourSpec:
        """The judge as a probe spec behaviour (the confirmation audit's)."""
        if self.behaviour is not None:
            return self.behaviour
        return BehaviourSpec.model_validate({"judge": {"rubric": self.rubric, "threshold": self.threshold}})

    def needs_auditor(self) -> bool:
        return self.rubric is not None or (self.behaviour is not None and self.behaviour.needs_auditor())


class SearchBudget(Strict):
    iterations: int = Field(default=20, ge=1, le=1000)
    candidates_per_iteration: int = Field(default=24, ge=1, le=10_000)
    max_attributes_per_candidate: int = Field(default=5, ge=1, le=20)
    runs: int = Field(default=1, ge=1, le=100, description="Independent searches, each its own buffer.")
    buffer_size: int = Field(default=50, ge=1, le=100_000, description="Replay buffer: global top-n.")
    max_target_calls: int | None = Field(default=None, ge=1)
    max_auditor_calls: int | None = Field(default=None, ge=1)
    early_stop_iterations: int = Field(default=5, ge=1, description="Stop a run when the best score "
                                       "of its last this-many iterations stays under early_stop_score.")
    early_stop_score: float = Field(default=25, ge=0, le=100)
    max_error_rate: float = Field(default=0.2, ge=0, le=1, description="A search whose share of "
                                  "target errors exceeds this ends failed (query and judge parse "
                                  "failures are counted apart and do not count here).")


class ConfirmSpec(Strict):
    top_k: int = Field(default=3, ge=0, le=8, description="Top attributes to confirm (0: none).")
    samples_per_prompt: int = Field(default=10, ge=1, le=10_000)
    prompts: list[PromptText] | None = Field(default=None, description="Held-out prompts; default: "
                                             "half the seed prompts, never searched on.")
    held_out: int = Field(default=20, ge=2, le=1000, description="With attribute records and no seed "
                          "prompts: how many record prompts the confirmation runs on, preferring "
                          "records that carry none of the attributes confirmed.")
    min_effect: float = Field(default=0.10, ge=0, le=1)
    alpha: float = Field(default=0.05, gt=0, lt=1)


class SearchSpec(Strict):
    """Precedence for the name and budget: the spec's own values, then a SURF rubric's experiment
    settings (exp_name, num_iterations, buffer_size, candidates_per_iter), then the defaults."""

    schema_version: Literal[1] = 1
    name: str = Field(min_length=1, max_length=200)
    seed_prompts: list[PromptText] = Field(default_factory=list, max_length=100_000, description=
                                           "Prompts the attributes are applied to (2+); a pool of "
                                           "attribute records needs none: its queries are written "
                                           "from the attributes alone, as SURF's are.")
    attributes: list[AttributeSpec] | Literal["builtin"] | None = Field(
        default=None, description="The pool inline, or `builtin`: the research's ten features.")
    attributes_file: str | None = Field(default=None, description="Read by the CLI: SURF's attribute "
                                        "records (JSONL, Parquet, or a folder of them), or surfturf's "
                                        "one-attribute-per-line JSONL (inlined as `attributes`).")
    attribute_column: str = Field(default="sae_attributes", min_length=1, max_length=200, description=
                                  "The records' column of attribute texts (SURF's default; `attributes` "
                                  "for the raw ones).")
    attribute_records: list[dict[str, Any]] | None = Field(
        default=None, max_length=100_000, description="SURF's attribute records inline (the API): "
        "objects with `prompt` and the attribute column; larger pools go through the CLI.")
    attributes_from_dataset: DatasetAttributes | None = None
    judge: SearchJudge
    budget: SearchBudget = Field(default_factory=SearchBudget)
    confirm: ConfirmSpec = Field(default_factory=ConfirmSpec)
    temperature: float = Field(default=1.0, ge=0, le=2)
    max_tokens: int = Field(default=128, ge=1, le=8192)
    concurrency: int = Field(default=8, ge=1, le=1024)
    seed: int = 0

    @model_validator(mode="before")
    @classmethod
    def _surf_settings(cls, data: Any) -> Any:
        judge = data.get("judge") if isinstance(data, dict) else None
        rubric = judge.get("rubric") if isinstance(judge, dict) else None
        if not isinstance(rubric, dict):
            return data
        try:
            given = Rubric.model_validate(rubric).search_defaults()
        except ValueError:
            return data  # the judge's own validation says what is wrong
        budget = data.get("budget")
        merged = {**given.get("budget", {}), **(budget if isinstance(budget, dict) else {})}
        out = {**({"name": given["name"]} if "name" in given else {}), **data}
        if merged and (budget is None or isinstance(budget, dict)):
            out["budget"] = merged
        return out

    @model_validator(mode="after")
    def _pool(self) -> SearchSpec:
        given = [k for k in POOLS if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of {', '.join(POOLS)}")
        if not self.uses_records() and len(self.seed_prompts) < 2:
            raise ValueError("seed_prompts: give 2 or more (only a pool of attribute records needs none)")
        if isinstance(self.attributes, list):
            if len(self.attributes) < 2:
                raise ValueError("attributes: a pool needs at least 2 attributes")
            ids = [a.id for a in self.attributes]
            if len(set(ids)) != len(ids):
                raise ValueError(f"attributes: duplicate ids {sorted({i for i in ids if ids.count(i) > 1})}")
        from_seeds = bool(self.seed_prompts) or not self.uses_records()
        if self.confirm.top_k and self.confirm.prompts is None and from_seeds and len(self.seed_prompts) < 4:
            raise ValueError("confirm: hold-out needs 4+ seed_prompts (or give confirm.prompts)")
        return self

    def uses_records(self) -> bool:
        """A pool of SURF attribute records (a file the CLI read, or records sent inline)."""
        return self.attribute_records is not None or self.attributes_file is not None

    def prompt_set(self) -> str:
        """`surf` for a SURF-format rubric (its judge and query prompt shapes), else `surfturf`."""
        return prompt_set(self.judge.rubric) if self.judge.rubric is not None else "surfturf"

    def planned_candidates(self) -> int:
        b = self.budget
        planned = b.runs * b.iterations * b.candidates_per_iteration
        return min(planned, b.max_target_calls) if b.max_target_calls else planned
