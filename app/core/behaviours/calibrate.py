"""A scorer's errors measured on labelled responses: what `surfturf judge calibrate` runs, and
what a behaviour's `calibration` then corrects effects for (app/core/stats/judge_error.py)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.core.behaviours.base import Behaviour


@dataclass(frozen=True)
class Labelled:
    line: int
    prompt: str
    response: str
    label: bool


class LabelsError(ValueError):
    pass


def read_labels(path: Path) -> list[Labelled]:
    """JSONL lines `{prompt, response, label: true|false}`; a bad line is named `file:line`."""
    out = []
    for n, line in _lines(path):
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise LabelsError(f"{path}:{n}: invalid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise LabelsError(f"{path}:{n}: a line is an object {{prompt, response, label}}")
        for key in ("prompt", "response"):
            if not isinstance(obj.get(key), str):
                raise LabelsError(f"{path}:{n}: {key} must be a string")
        if not isinstance(obj.get("label"), bool):
            raise LabelsError(f"{path}:{n}: label must be true or false")
        out.append(Labelled(n, obj["prompt"], obj["response"], obj["label"]))
    if not any(x.label for x in out) or all(x.label for x in out):
        raise LabelsError(f"{path}: needs responses labelled true and responses labelled false "
                          "(sensitivity and specificity are measured on each)")
    return out


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                yield n, line


async def calibrate(scorer: Behaviour, items: list[Labelled], concurrency: int = 8) -> dict[str, Any]:
    """Counts of the scorer's verdicts against the labels; items it failed to score are listed
    (line and error) and left out of the counts."""
    sem = asyncio.Semaphore(concurrency)

    async def one(x: Labelled) -> tuple[Labelled, bool | None, str | None]:
        async with sem:
            s = await scorer.score(x.response, prompt=x.prompt)
        return x, (None if s.error else s.elicited), s.error

    got = await asyncio.gather(*(one(x) for x in items))
    counts = {"tp": 0, "fn": 0, "tn": 0, "fp": 0}
    failed, wrong = [], []
    for x, scored, error in got:
        if scored is None:
            failed.append({"line": x.line, "error": error})
            continue
        key = ("tp" if scored else "fn") if x.label else ("fp" if scored else "tn")
        counts[key] += 1
        if scored != x.label:
            wrong.append({"line": x.line, "label": x.label, "response": x.response[:200]})
    return {**counts, "unscored": failed, "disagreements": wrong}
