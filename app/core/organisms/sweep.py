"""Predictiveness sweeps (the toy-model post's insight 3): one organism per sweep value and seed,
each audited with the same probe spec, so a trigger's effect can be read against how predictive
the training data made it.

presence: the share of the behaviour chunk's prompts that carry the trigger level (the rest of
  that chunk still shows the behaviour, so the trigger predicts it less);
dilution: the share of every other chunk's prompts that carry it too (the trigger then also
  appears where the behaviour does not)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from app.core.organisms.spec import OrganismSpec, TrainSpec, TriggerUse
from app.core.strict import Strict
from app.core.surf.loader import (
    SpecFileError,
    line_of,
    load_model_file,
    load_spec_file,
    located_errors,
    safe_yaml,
)
from app.core.surf.spec import ProbeSpec


class SweepAxis(Strict):
    axis: Literal["presence", "dilution"]
    chunk: str = Field(description="The chunk that teaches the behaviour.")
    feature: str = Field(description="The trigger feature (built-in), e.g. tag_format.")
    level: str = Field(description="Its template level, e.g. tagged.")
    behaviour: str = Field(description="The probe spec's behaviour whose effect is measured.")
    values: list[float] = Field(min_length=2, description="Shares in [0, 1], one organism each (per seed).")
    seeds: int = Field(default=1, ge=1, le=20, description="Organisms per value (data and training seeds).")

    @field_validator("values")
    @classmethod
    def _shares(cls, values: list[float]) -> list[float]:
        if any(not 0 <= v <= 1 for v in values):
            raise ValueError("values are shares: each must be in [0, 1]")
        if len(set(values)) < 2:
            raise ValueError("a trend needs at least two distinct values")
        return values


class SweepSpec(Strict):
    name: str = Field(pattern=r"^[\w.-]+$")
    description: str | None = None
    organism: OrganismSpec
    probe: ProbeSpec
    sweep: SweepAxis
    answers: Literal["model", "template"] = Field(default="model", description="Base answers from the "
                                                  "base model (cached per question), or templates.")
    train: TrainSpec | None = Field(default=None, description="Overrides the organism's training.")

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        s = self.sweep
        if s.chunk not in self.organism.chunks:
            raise ValueError(f"sweep.chunk {s.chunk!r} is not one of the organism's chunks "
                             f"({', '.join(self.organism.chunks)})")
        if s.axis == "dilution" and len(self.organism.chunks) < 2:
            raise ValueError("a dilution sweep needs another chunk to dilute into")
        TriggerUse(feature=s.feature, level=s.level)  # a template level of a known feature
        if s.behaviour not in self.probe.behaviours:
            raise ValueError(f"sweep.behaviour {s.behaviour!r} is not a behaviour of the probe spec "
                             f"({', '.join(self.probe.behaviours)})")
        self.probe_feature()
        return self

    def probe_feature(self) -> str:
        """The probe's name for the swept feature: the one built on it, or the one so named."""
        s = self.sweep
        for name, f in self.probe.features.items():
            if getattr(f, "builtin", None) == s.feature or name == s.feature:
                if s.level not in f.level_names():
                    raise ValueError(f"the probe's feature {name!r} has no level {s.level!r}")
                return name
        raise ValueError(f"the probe spec has no feature built on {s.feature!r}")

    def points(self) -> list[tuple[float, int]]:
        """Seed by seed: a sweep cut short still has every value at its first seeds."""
        return [(v, seed) for seed in range(self.sweep.seeds) for v in self.sweep.values]

    def variant(self, value: float, seed: int) -> OrganismSpec:
        """The organism at one point: the base spec with the swept share set, seeded apart."""
        s = self.sweep
        doc = self.organism.model_dump(mode="json")
        doc["name"] = f"{self.name}-{s.axis}-{value:g}-s{seed}"
        doc["seed"] = self.organism.seed + seed
        if self.train is not None:
            doc["train"] = self.train.model_dump(mode="json")
        use = {"feature": s.feature, "level": s.level, "rate": value}
        for name, chunk in doc["chunks"].items():
            if (name == s.chunk) == (s.axis == "presence"):
                others = [t for t in chunk["triggers"] if (t["feature"], t["level"]) != (s.feature, s.level)]
                chunk["triggers"] = [*others, use]
        return OrganismSpec.model_validate(doc)


def spec_key(spec: OrganismSpec) -> str:
    """Content address of an organism: two sweeps asking for the same organism share its build."""
    return hashlib.sha256(json.dumps(spec.model_dump(mode="json", exclude={"name", "description"}),
                                     sort_keys=True).encode()).hexdigest()[:16]


def load_sweep(path: Path) -> SweepSpec:
    """A sweep YAML; errors name the file and line. `organism` and `probe` may be inline, or
    paths relative to the file (`organism` also a bundled organism spec's name), whose own errors
    name their own file and line."""
    data, node = safe_yaml(path.read_text(encoding="utf-8"), str(path))
    if not isinstance(data, dict):
        raise SpecFileError(f"{path}:1: a sweep is a mapping with organism, probe and sweep")
    for key in ("organism", "probe"):
        if isinstance(data.get(key), str):
            data[key] = _load_ref(path, data[key], key, line_of(node, (key,)) or 1)
    try:
        return SweepSpec.model_validate(data)
    except ValidationError as exc:
        errors = located_errors(path, node, exc)
        for i, err in enumerate(exc.errors()):  # a cross-field check names its field in the message
            field = re.search(r"\bsweep\.(\w+)", err["msg"]) if not err["loc"] else None
            if field and i < len(errors):
                line = line_of(node, ("sweep", field.group(1))) or 1
                errors = [f"{path}:{line}: sweep.{field.group(1)}: {err['msg']}"]
                break
        raise SpecFileError("\n".join(errors)) from None


SweepFileError = SpecFileError  # what a bad sweep file raises
DATA = Path(__file__).resolve().parents[2] / "data"
ORGANISM_SPECS = DATA / "organism-specs"
BUNDLED_SWEEPS = DATA / "organism-sweeps"
_NAME = re.compile(r"^[\w.-]+$")


def bundled_sweep(name: str) -> SweepSpec | None:
    """A shipped sweep by name (never a path: the API reads no file a caller names)."""
    path = BUNDLED_SWEEPS / f"{name}.yaml"
    return load_sweep(path) if _NAME.match(name) and path.is_file() else None


def with_bundled_refs(doc: dict[str, Any]) -> dict[str, Any]:
    """An API sweep document: `organism` / `probe` inline, or the name of a shipped organism spec
    / probe spec (app/data/organism-specs, app/data/specs). KeyError names a key whose name is
    not shipped."""
    out = dict(doc)
    for key, folder in (("organism", ORGANISM_SPECS), ("probe", DATA / "specs")):
        ref = out.get(key)
        if isinstance(ref, str):
            path = folder / f"{ref}.yaml"
            if not (_NAME.match(ref) and path.is_file()):
                raise KeyError(key)
            out[key] = (load_spec_file(path).model_dump(mode="json", exclude_unset=True) if key == "probe"
                        else load_model_file(path, OrganismSpec).model_dump(mode="json"))
    return out


def _load_ref(sweep_file: Path, ref: str, key: str, line: int) -> Any:
    p = Path(ref) if Path(ref).is_absolute() else sweep_file.parent / ref
    if not p.exists() and key == "organism":
        p = ORGANISM_SPECS / f"{ref}.yaml"
    if not p.exists():
        what = "a file, nor a bundled organism spec" if key == "organism" else "a file"
        raise SpecFileError(f"{sweep_file}:{line}: {key}: {ref!r} is not {what}")
    if key == "probe":
        return load_spec_file(p).model_dump(mode="json", exclude_unset=True)
    return load_model_file(p, OrganismSpec).model_dump(mode="json")
