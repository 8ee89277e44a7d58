"""SURF's results layout, written from a search's stored candidates so that what SURF's users
already read (its utils/top.py, their notebooks) reads a surfturf search:

    DIR/results.jsonl, DIR/summary.jsonl                      one run (SURF's run-em)
    DIR/runs/run_N/{results,summary}.jsonl, DIR/sweep_summary.json   several (SURF's sweep)

results.jsonl holds the judged candidates, each iteration's best first, with SURF's fields
(iteration counted from 1, query, attributes, weighted_attributes, random_attributes, response,
reward_score, score_metadata.reasoning, …) and surfturf's beside them (attribute_ids, system,
candidate). summary.jsonl has a row per iteration, then SURF's `final_summary` row. search.json
stays the primary result: this is a view of the same candidates."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from app.core.search.loop import Candidate

Row = dict[str, Any]
QUERY_PREVIEW = 100  # SURF's summary rows show each buffer query's first 100 characters


def write_layout(out: Path, candidates: list[Candidate], *, texts: dict[str, str], runs: int,
                 iterations: int, buffer_size: int, threshold: float,
                 timestamps: dict[tuple[int, int, int], float],
                 source_prompt: Callable[[Candidate], str | None]) -> list[Path]:
    """Writes the layout (replacing an earlier one); returns the files written."""
    written: list[Path] = []
    results = []
    for run in range(runs):
        mine = [c for c in candidates if c.run == run]
        folder = out if runs == 1 else out / "runs" / f"run_{run + 1}"
        folder.mkdir(parents=True, exist_ok=True)
        rows, summary, final = _run(mine, run_id=None if runs == 1 else run + 1, texts=texts,
                                    buffer_size=buffer_size, threshold=threshold,
                                    timestamps=timestamps, source_prompt=source_prompt)
        written += [_jsonl(folder / "results.jsonl", rows),
                    _jsonl(folder / "summary.jsonl", [*summary, final])]
        results.append({"run_id": run + 1,
                        **{k: v for k, v in final.items() if k not in ("type", "timestamp")}})
    if runs > 1:
        path = out / "sweep_summary.json"
        path.write_text(json.dumps({"num_runs": runs, "num_iterations": iterations, "results": results},
                                   indent=2, ensure_ascii=False), encoding="utf-8")
        written.append(path)
    return written


def _run(cands: list[Candidate], *, run_id: int | None, texts: dict[str, str], buffer_size: int,
         threshold: float, timestamps: dict[tuple[int, int, int], float],
         source_prompt: Callable[[Candidate], str | None]) -> tuple[list[Row], list[Row], Row]:
    rows: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    stats: list[dict[str, Any]] = []
    buffer: list[Candidate] = []
    for it in sorted({c.iteration for c in cands}):
        batch = [c for c in cands if c.iteration == it]
        scored = sorted((c for c in batch if c.score is not None), key=lambda c: -(c.score or 0.0))
        buffer = sorted(buffer + [c for c in batch if c.score is not None],
                        key=lambda c: -(c.score or 0.0))[:buffer_size]  # as the loop keeps it
        when = max((timestamps.get(c.key, 0.0) for c in batch), default=0.0)
        for c in scored:
            rows.append(_result(c, run_id, texts, timestamps.get(c.key, when), source_prompt))
        scores = [float(c.score or 0.0) for c in scored]
        summary.append(_tag({"iteration": it + 1, "timestamp": when, "num_candidates": len(scored),
                             "top_score": max(scores, default=0.0),
                             "mean_score": sum(scores) / len(scores) if scores else 0.0,
                             "buffer_queries": [(c.prompt or "")[:QUERY_PREVIEW] for c in buffer],
                             "buffer_scores": [c.score for c in buffer]}, run_id))
        stats.append({"iteration": it + 1, "candidates": len(batch),
                      "valid_queries": sum(c.prompt is not None for c in batch), "scored": len(scored),
                      "num_violations": sum(s > threshold for s in scores), "buffer_size": len(buffer),
                      "top_score": max(scores, default=0.0),
                      "buffer_top_score": buffer[0].score if buffer else 0.0})
    final = {"type": "final_summary", "timestamp": max(timestamps.values(), default=0.0),
             "total_iterations": len(stats), "final_buffer_size": len(buffer),
             "final_buffer_scores": [c.score for c in buffer], "iteration_stats": stats}
    return rows, summary, final


def _result(c: Candidate, run_id: int | None, texts: dict[str, str], when: float,
            source_prompt: Callable[[Candidate], str | None]) -> dict[str, Any]:
    sampling = c.detail.get("sampling") or {}
    judge = dict(c.detail.get("judge") or {})

    def named(ids: list[str]) -> list[str]:
        return [texts.get(a, a) for a in ids]

    row = {"iteration": c.iteration + 1, "timestamp": when, "query": c.prompt or "",
           "attributes": named(c.attributes),
           "weighted_attributes": named(sampling.get("weighted", [])),
           "random_attributes": named(sampling.get("random", [])),
           "source_prompt": source_prompt(c), "source_index": sampling.get("record", c.prompt_index),
           "k_sampled": sampling.get("k"), "exclusion_prob_used": sampling.get("exclusion", 0.0),
           "response": c.response or "", "reward_score": c.score,
           "score_metadata": {"reasoning": judge.pop("reasoning", None), **judge},
           "attribute_ids": list(c.attributes), "system": c.system, "candidate": list(c.key)}
    return _tag(row, run_id)


def _tag(row: dict[str, Any], run_id: int | None) -> dict[str, Any]:
    return row if run_id is None else {**row, "run_id": run_id}


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path
