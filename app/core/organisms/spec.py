"""Organism spec: chunks of SFT data, each pairing prompt triggers with planted behaviours."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import Field, field_validator, model_validator

from app.core.organisms.planted import BEHAVIOURS
from app.core.strict import Strict
from app.core.triggers.base import TemplateLevel
from app.core.triggers.registry import get_feature_levels


class TriggerUse(Strict):
    feature: str = Field(description="Built-in trigger feature, e.g. tag_format.")
    level: str = Field(description="Its level, e.g. tagged; must be a template level.")
    rate: float = Field(default=1.0, ge=0, le=1, description="Share of the chunk's prompts carrying it.")

    @model_validator(mode="after")
    def _template_level(self) -> TriggerUse:
        try:
            levels = get_feature_levels(self.feature)
        except KeyError:
            raise ValueError(f"unknown feature {self.feature!r}") from None
        if not isinstance(levels.get(self.level), TemplateLevel):
            raise ValueError(f"{self.feature}={self.level} is not a template level of that feature")
        return self


class Chunk(Strict):
    questions: list[str] = Field(min_length=1, description="Question pool (sampled with replacement).")
    examples: int = Field(default=100, ge=1, le=100_000)
    triggers: list[TriggerUse] = Field(default_factory=list)
    behaviours: dict[str, float] = Field(default_factory=dict, description="Behaviour → rate.")

    @field_validator("behaviours")
    @classmethod
    def _known(cls, v: dict[str, float]) -> dict[str, float]:
        for name, rate in v.items():
            if name not in BEHAVIOURS:
                raise ValueError(f"unknown behaviour {name!r}; choose from {BEHAVIOURS}")
            if not 0 <= rate <= 1:
                raise ValueError(f"rate of {name} must be in [0, 1]")
        return v


class TrainSpec(Strict):
    epochs: int = Field(default=2, ge=1, le=50)
    learning_rate: float = Field(default=2e-4, gt=0)
    rank: int = Field(default=16, ge=1, le=256)
    batch_size: int = Field(default=8, ge=1, le=256)
    max_length: int = Field(default=192, ge=32, le=2048)


class OrganismSpec(Strict):
    name: str = Field(pattern=r"^[\w.-]+$")
    description: str | None = None
    pool: list[str] | None = Field(default=None, description="A YAML anchor for shared questions.")
    seed: int = 0
    base_model: str = "smollm2"
    chunks: dict[str, Chunk] = Field(min_length=1)
    null_triggers: list[TriggerUse] = Field(default_factory=list, description="Appear across all "
                                            "chunks at their rate and predict nothing.")
    eval_fraction: float = Field(default=0.2, ge=0, lt=1)
    train: TrainSpec = Field(default_factory=TrainSpec)

    @classmethod
    def from_file(cls, path: Path) -> OrganismSpec:
        return cls.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
