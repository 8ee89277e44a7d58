"""Samples as analysis sees them, and their portable JSONL form (export, `audit analyze`).

One JSON object per line: `{"prompt_index": int, "levels": {feature: level}, "sample_index": int,
"scores": {behaviour: true|false|null}}`, optionally `response`, `error` and `messages`. A null
score means "not scored" (the scorer failed, or the sample has no response).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.core.surf.spec import ProbeSpec


@dataclass
class Sample:
    cell: dict[str, str]
    prompt_index: int
    sample_index: int
    messages: list[dict[str, str]]
    response: str | None
    scores: dict[str, dict[str, Any]]
    error: str | None

    def elicited(self, behaviour: str) -> bool | None:
        """True/False, or None when this sample does not count for the behaviour."""
        sc = self.scores.get(behaviour)
        if self.error or sc is None or sc.get("error") or sc.get("elicited") is None:
            return None
        return bool(sc["elicited"])


def sort_key(s: Sample) -> tuple[tuple[str, ...], int, int]:
    """A canonical order, so an analysis never depends on the order samples were stored in."""
    return tuple(f"{k}={v}" for k, v in s.cell.items()), s.prompt_index, s.sample_index


def to_record(s: Sample) -> dict[str, Any]:
    rec: dict[str, Any] = {"prompt_index": s.prompt_index, "levels": s.cell,
                           "sample_index": s.sample_index,
                           "scores": {b: s.elicited(b) for b in s.scores}}
    if s.response is not None:
        rec["response"] = s.response
    if s.error is not None:
        rec["error"] = s.error
    if s.messages:
        rec["messages"] = s.messages
    return rec


def to_jsonl(samples: Iterable[Sample]) -> Iterator[str]:
    for s in samples:
        # U+2028/2029 are line breaks to some JSONL readers (and JavaScript): escaped, as JSON allows
        line = json.dumps(to_record(s), ensure_ascii=False)
        yield line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029") + "\n"


class SampleRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    prompt_index: int = Field(ge=0)
    levels: dict[str, str]
    sample_index: int = Field(ge=0)
    scores: dict[str, bool | None] = Field(default_factory=dict)
    response: str | None = None
    error: str | None = None
    messages: list[dict[str, str]] = Field(default_factory=list)


class SamplesFileError(ValueError):
    """A problem located in a samples file, e.g. `samples.jsonl:12: levels: …`."""


def _check(rec: SampleRecord, spec: ProbeSpec) -> str | None:
    if rec.prompt_index >= len(spec.prompts):
        return f"prompt_index {rec.prompt_index} is out of range (the spec has {len(spec.prompts)} prompts)"
    if set(rec.levels) != set(spec.features):
        return f"levels must name exactly the spec's features {sorted(spec.features)}"
    for f, level in rec.levels.items():
        if level not in spec.features[f].level_names():
            return f"levels.{f}: {level!r} is not a level of {f} ({spec.features[f].level_names()})"
    unknown = sorted(set(rec.scores) - set(spec.behaviours))
    return f"scores: unknown behaviours {unknown}" if unknown else None


def read_jsonl(lines: Iterable[str], spec: ProbeSpec, *, source: str = "samples") -> list[Sample]:
    """Parse and check every line against the spec; the error names the source and line."""
    out: list[Sample] = []
    seen: set[tuple[tuple[str, ...], int, int]] = set()
    for i, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            rec = SampleRecord.model_validate_json(line)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "(line)"
            raise SamplesFileError(f"{source}:{i}: {where}: {err['msg']}") from None
        if problem := _check(rec, spec):
            raise SamplesFileError(f"{source}:{i}: {problem}")
        cell = {f: rec.levels[f] for f in spec.features}
        scores = {b: ({"elicited": v} if v is not None else {"elicited": None, "error": "not scored"})
                  for b, v in rec.scores.items()}
        sample = Sample(cell, rec.prompt_index, rec.sample_index, rec.messages, rec.response, scores,
                        rec.error)
        key = sort_key(sample)
        if key in seen:
            raise SamplesFileError(f"{source}:{i}: duplicate sample (levels, prompt_index, sample_index)")
        seen.add(key)
        out.append(sample)
    return out
