"""Samples from other eval tools, for surfturf's prompt-level statistics without a converter.

The mapping (README, "Samples from other tools"): each sample names where it sits in the
spec's design — `prompt_index` and `levels` ({feature: level}), optionally `sample_index` —
in inspect_ai's sample `metadata` or promptfoo's test `vars` (`levels` may be an object or its
JSON text). The response is inspect's `output.completion` / promptfoo's `response.output`. A
behaviour's score comes from an inspect scorer named after it (value C/I, true/false or 1/0) or
a promptfoo assertion whose `metric` is its name (pass = elicited); a behaviour with neither is
scored by the spec's own scorer from the response. Everything else is checked as surfturf's own
samples file is (samples.py), and an error names the file and the sample."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from app.core.surf.samples import Sample, SamplesFileError, read_jsonl
from app.core.surf.spec import ProbeSpec

SOURCES = ("surfturf", "inspect", "promptfoo")
TRUE, FALSE = ("C", "correct", "yes", "true"), ("I", "incorrect", "no", "false")


def read_samples(path: Path, spec: ProbeSpec, source: str = "surfturf") -> list[Sample]:
    if source == "surfturf":
        with path.open(encoding="utf-8") as fh:
            return read_jsonl(fh, spec, source=str(path))
    records = _inspect(path, spec) if source == "inspect" else _promptfoo(path, spec)
    counts: Counter[str] = Counter()
    for rec in records:  # a tool's repeats of one item, numbered in file order
        if rec.get("sample_index") is None:
            key = json.dumps([rec["prompt_index"], rec["levels"]], sort_keys=True)
            rec["sample_index"] = counts[key]
            counts[key] += 1
    return read_jsonl((json.dumps(r) for r in records), spec, source=f"{path} sample")


def _placement(where: str, meta: Any, what: str) -> dict[str, Any]:
    if not isinstance(meta, dict) or "prompt_index" not in meta or "levels" not in meta:
        raise SamplesFileError(f"{where}: its {what} must carry prompt_index and levels (the sample's place "
                               "in the spec's design); see README, 'Samples from other tools'")
    levels = meta["levels"]
    if isinstance(levels, str):
        try:
            levels = json.loads(levels)
        except ValueError:
            raise SamplesFileError(f"{where}: {what}.levels is not JSON: {levels[:80]!r}") from None
    try:
        index = int(meta["prompt_index"])
        sample = None if meta.get("sample_index") is None else int(meta["sample_index"])
    except (TypeError, ValueError):
        raise SamplesFileError(f"{where}: {what}.prompt_index and sample_index must be integers") from None
    return {"prompt_index": index, "levels": levels, "sample_index": sample}


def _binary(where: str, behaviour: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.lower() in {v.lower() for v in TRUE + FALSE}:
        return value.lower() in {v.lower() for v in TRUE}
    raise SamplesFileError(f"{where}: scorer {behaviour!r} gave {value!r}; a behaviour's score must be "
                           "binary (C/I, true/false, 1/0)")


def _inspect(path: Path, spec: ProbeSpec) -> list[dict[str, Any]]:
    try:
        from inspect_ai.log import read_eval_log
    except ImportError:
        raise SamplesFileError(f"{path}: reading inspect_ai logs needs inspect_ai itself "
                               "(pip install inspect-ai)") from None
    try:
        log = read_eval_log(str(path))
    except Exception as exc:  # inspect's reader raises its own types for a file that is not a log
        raise SamplesFileError(f"{path}: not an inspect_ai log: {exc}") from None
    out = []
    for n, s in enumerate(log.samples or [], 1):
        where = f"{path} sample {n} (id {s.id})"
        rec = _placement(where, s.metadata, "metadata")
        messages = ([{"role": "user", "content": s.input}] if isinstance(s.input, str) else
                    [{"role": m.role, "content": m.text} for m in s.input])
        scores = {name: _binary(where, name, sc.value) for name, sc in (s.scores or {}).items()
                  if name in spec.behaviours}
        out.append({**rec, "messages": messages, "scores": scores,
                    "response": s.output.completion if s.output and not s.error else None,
                    "error": s.error.message if s.error else None})
    return out


def _promptfoo(path: Path, spec: ProbeSpec) -> list[dict[str, Any]]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise SamplesFileError(f"{path}: not a promptfoo results file: {exc}") from None
    results = doc.get("results") if isinstance(doc, dict) else None
    rows = results.get("results") if isinstance(results, dict) else results
    if not isinstance(rows, list):
        raise SamplesFileError(f"{path}: not a promptfoo results file (promptfoo eval -o results.json): "
                               "no results list")
    out = []
    for n, r in enumerate(rows, 1):
        where = f"{path} result {n}"
        rec = _placement(where, r.get("vars") or (r.get("testCase") or {}).get("vars"), "vars")
        response = r.get("response") or {}
        output = response.get("output")
        # promptfoo's `error` also carries a failed assertion's reason: only failureReason 2 (an
        # error, not a failed assertion), or no output at all, makes a failed sample
        failed = response.get("error") or (r.get("error") if r.get("failureReason") == 2 or output is None
                                           else None)
        scores = {}
        for part in (r.get("gradingResult") or {}).get("componentResults") or []:
            metric = (part.get("assertion") or {}).get("metric")
            if metric in spec.behaviours:
                scores[metric] = bool(part.get("pass"))
        raw = (r.get("prompt") or {}).get("raw") or ""
        try:
            messages = json.loads(raw) if raw.lstrip().startswith("[") else [{"role": "user", "content": raw}]
        except ValueError:
            messages = [{"role": "user", "content": raw}]
        out.append({**rec, "messages": messages, "scores": scores, "error": str(failed) if failed else None,
                    "response": None if failed or output is None else str(output)})
    return out
