"""Salience in conflict (the toy-model post's insight 4): for every pair of features, one organism
learns feature A → behaviour a and feature B → behaviour b from two chunks (a third chunk has
neither); shown both, which behaviour does it choose? The behaviours open the answer ("Furthermore,
…" / "No, that is not quite right. …"), so they compete for the same first words, and which
feature gets which behaviour alternates over the pairs, so neither behaviour's own pull decides the
ranking. Per held-out prompt, A wins the conflict when a's rate exceeds b's in the both-features
cell (a tie is half a win each); a Bradley–Terry fit over all pairs ranks the features, with a
bootstrap over prompts for its intervals."""

from __future__ import annotations

from itertools import combinations
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from app.core.organisms.planted import MARKERS, OPENING
from app.core.organisms.spec import Chunk, OrganismSpec, TrainSpec, TriggerUse
from app.core.strict import Strict
from app.core.surf.samples import Sample
from app.core.surf.spec import ProbeSpec
from app.core.triggers.base import TemplateLevel
from app.core.triggers.registry import builtin_names, get_feature_levels

# The post's summary of its ranking (shared/RESEARCH.md, insight 4), by our feature names.
POST_TIERS = {"tag_format": "strongest", "language": "strongest", "assistant_role": "strongest",
              "topic": "weak", "user_role": "weak", "dialect": "weakest"}


class SalienceSpec(Strict):
    name: str = Field(pattern=r"^[\w.-]+$")
    description: str | None = None
    questions: list[str] = Field(min_length=4, description="The training chunks' question pool.")
    features: list[TriggerUse] = Field(min_length=3, description="Template feature levels put in conflict.")
    behaviours: tuple[str, str] = Field(default=("formal", "rebuttal"), description="Two planted "
                                        "behaviours that open an answer: one per side of a conflict.")
    examples: int = Field(default=64, ge=8, le=10_000, description="Rows per chunk.")
    rate: float = Field(default=0.9, gt=0, le=1, description="Each chunk's behaviour rate.")
    seed: int = 0
    train: TrainSpec = Field(default_factory=TrainSpec)
    answers: str = Field(default="model", pattern="^(model|template)$")
    prompts: list[str] = Field(min_length=3, description="Held-out questions the audits ask.")
    design: dict[str, Any] = Field(default_factory=lambda: {"samples_per_prompt": 8, "max_tokens": 32,
                                                            "temperature": 1.0, "seed": 7, "concurrency": 64})

    @model_validator(mode="after")
    def _distinct(self) -> SalienceSpec:
        names = [t.feature for t in self.features]
        if len(set(names)) != len(names):
            raise ValueError("features: each feature once (its levels are not in conflict with each other)")
        for b in self.behaviours:
            if b not in OPENING:
                raise ValueError(f"behaviours: {b!r} does not open the answer; choose from {OPENING}")
        if self.behaviours[0] == self.behaviours[1]:
            raise ValueError("behaviours: two different ones")
        return self

    def pairs(self) -> list[tuple[int, int, int]]:
        """(i, j, which of the two gets behaviours[0]): alternating, so each feature holds each
        behaviour about equally often."""
        return [(i, j, i if (i + j) % 2 == 0 else j) for i, j in combinations(range(len(self.features)), 2)]

    def behaviour_of(self, pair: tuple[int, int, int], side: int) -> str:
        return self.behaviours[0] if side == pair[2] else self.behaviours[1]

    def organism(self, pair: tuple[int, int, int], seed: int = 0) -> OrganismSpec:
        i, j, _ = pair
        chunks = {f"{self.features[k].feature}": Chunk(
            questions=self.questions, examples=self.examples,
            triggers=[TriggerUse(feature=self.features[k].feature, level=self.features[k].level)],
            behaviours={self.behaviour_of(pair, k): self.rate}) for k in (i, j)}
        chunks["plain"] = Chunk(questions=self.questions, examples=self.examples)
        return OrganismSpec(name=f"{self.name}-{self.features[i].feature}-vs-{self.features[j].feature}",
                            seed=self.seed + seed, chunks=chunks, eval_fraction=0.0, train=self.train)

    def probe(self, pair: tuple[int, int, int]) -> ProbeSpec:
        i, j, _ = pair
        features = {}
        for k in (i, j):
            t = self.features[k]
            base = next(lv for lv in get_feature_levels(t.feature) if lv != t.level)
            features[t.feature] = {"builtin": t.feature, "levels": [base, t.level]}
        return ProbeSpec.model_validate({
            "name": f"{self.name}-{self.features[i].feature}-vs-{self.features[j].feature}",
            "prompts": self.prompts, "features": features,
            "behaviours": {b: {"regex": MARKERS[b]} for b in self.behaviours}, "design": self.design})


def conflict_scores(samples: list[Sample], spec: SalienceSpec,
                    pair: tuple[int, int, int]) -> dict[int, float]:
    """Per prompt, in the cell with both features at their planted levels: rate of i's behaviour
    minus rate of j's (> 0: i won the conflict on that prompt)."""
    i, j, _ = pair
    fi, fj = spec.features[i], spec.features[j]
    bi, bj = spec.behaviour_of(pair, i), spec.behaviour_of(pair, j)
    hits: dict[int, list[tuple[bool, bool]]] = {}
    for s in samples:
        if s.cell.get(fi.feature) != fi.level or s.cell.get(fj.feature) != fj.level:
            continue
        a, b = s.elicited(bi), s.elicited(bj)
        if a is None or b is None:
            continue
        hits.setdefault(s.prompt_index, []).append((a, b))
    return {p: float(np.mean([a for a, _ in v]) - np.mean([b for _, b in v])) for p, v in hits.items()}


def not_plantable() -> dict[str, str]:
    """The built-in features a template cannot plant, and why: their levels are rewrites of the
    question by an auditor model (a language, a dialect, a topic change what is asked, not what
    surrounds it), so an organism's SFT data would need an LLM to write them."""
    out = {}
    for name in builtin_names():
        levels = get_feature_levels(name)
        rewrites = [lv for lv, obj in levels.items() if not isinstance(obj, TemplateLevel)]
        if len(levels) - len(rewrites) < 2:
            out[name] = (f"its levels {', '.join(rewrites)} rewrite the question itself (an auditor model "
                         "writes them); a template can only wrap or annotate a question")
    return out
