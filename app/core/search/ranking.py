"""What a search found: attributes ranked by the judge scores of the candidates that carried
them, with intervals over candidates (each candidate is one prompt: the unit of variation).

The ranking is descriptive: candidates were drawn adaptively (high scorers drew their attributes
again), so an attribute that rode along with a strong one scores high too. The confirmation
audit, a controlled factorial on held-out prompts, is what separates them."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from app.core.search.attributes import Attribute
from app.core.search.loop import Candidate


def _mean_ci(scores: list[float]) -> tuple[float | None, float | None, float | None]:
    if not scores:
        return None, None, None
    mean = float(np.mean(scores))
    if len(scores) < 2:
        return mean, None, None
    sem = float(stats.sem(scores))
    if sem == 0:
        return mean, mean, mean
    low, high = stats.t.interval(0.95, len(scores) - 1, loc=mean, scale=sem)
    return mean, max(0.0, float(low)), min(100.0, float(high))


def drawn(candidates: list[Candidate]) -> list[Attribute]:
    """A record pool's attributes that candidates drew, in first-drawn order (their texts ride on
    each candidate's sampling detail)."""
    seen: dict[str, Attribute] = {}
    for c in candidates:
        for aid, text in (c.detail.get("sampling") or {}).get("texts", {}).items():
            seen.setdefault(aid, Attribute(aid, text))
    return list(seen.values())


def rank(pool: list[Attribute], candidates: list[Candidate], threshold: float) -> list[dict[str, Any]]:
    scored = [c for c in candidates if c.score is not None]
    rows: list[dict[str, Any]] = []
    for a in pool:
        with_ = [c.score for c in scored if a.id in c.attributes and c.score is not None]
        without = [c.score for c in scored if a.id not in c.attributes and c.score is not None]
        mean, low, high = _mean_ci(with_)
        hits = sum(s > threshold for s in with_)
        share_low, share_high = (proportion_confint(hits, len(with_), method="wilson") if with_
                                 else (None, None))
        rows.append({
            "attribute": a.id, "text": a.text, "category": a.category, "n": len(with_),
            "mean_score": mean, "ci_low": low, "ci_high": high,
            "violations": hits, "violation_share": hits / len(with_) if with_ else None,
            "violation_share_ci": [share_low, share_high] if with_ else None,
            "lift": (mean - float(np.mean(without))) if with_ and without and mean is not None else None,
        })
    # one draw has no interval: a record pool's once-drawn attributes (often riding along with a
    # strong one) come after every attribute seen twice or more
    rows.sort(key=lambda r: (r["mean_score"] is None, r["n"] < 2, -float(r["mean_score"] or 0.0),
                             -int(r["n"])))
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return rows


def top_examples(pool: list[Attribute], candidates: list[Candidate], n: int = 10) -> list[dict[str, Any]]:
    texts = {a.id: a.text for a in pool}
    best = sorted((c for c in candidates if c.score is not None), key=lambda c: -(c.score or 0.0))[:n]
    return [{"score": c.score,
             "attributes": [{"attribute": a, "text": texts.get(a, a)} for a in c.attributes],
             "prompt": c.prompt, "system": c.system, "response": c.response, "run": c.run,
             "iteration": c.iteration} for c in best]
