"""A failure traced by attributes, as the paper traces it, with the statistics it lacks.

The auditor names the crux of the failing responses (up to three response attributes); for each,
the k response attributes nearest to it in the data are retrieved, and their rows are counted per
query cluster (a row counts once for each cluster any of its query attributes falls in). Each
cluster's count is set against its base rate (the share of all described rows with a query
attribute in it): enrichment (hit share / base rate) with a Wilson interval, a one-sided Fisher
test, BH over the clusters. The trigger is the failing queries' own cluster with the most hits over
the crux's rows together, and it is named only when that enrichment is significant."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from app.core.stats.fdr import bh_qvalues
from app.core.turf.attribute_index import AttributeIndex
from app.core.turf.extraction import parse_attributes
from app.core.turf.index import VectorIndex
from app.core.turf.result import AttributeTrace, AttributeTrigger, ClusterHits, Crux

CRUX = ("These responses from an AI assistant all show this behaviour: {behaviour}.\n\n{responses}\n\n"
        "Write the {n} attributes of these responses that best explain that behaviour, one per line, "
        "each a sentence starting with 'The response'. Output only the list.")
def crux_prompt(behaviour: str, responses: list[str], n: int = 3) -> str:
    shown = "\n".join(f"<response>\n{r[:1500]}\n</response>" for r in responses[:8])
    return CRUX.format(behaviour=behaviour, responses=shown, n=n)


def parse_crux(text: str, n: int = 3) -> list[str]:
    return parse_attributes(text, n, "The response")


def count(index: AttributeIndex, retrieved: np.ndarray) -> list[ClusterHits]:
    n_all, n = len(index.rows), len(retrieved)
    hits = index.membership[retrieved].sum(axis=0)
    base = index.base_counts
    out: list[dict[str, Any]] = []
    ps = []
    for c in range(index.k):
        h, b = int(hits[c]), int(base[c])
        rate = b / n_all if n_all else 0.0
        share_lo, share_hi = proportion_confint(h, n, method="wilson") if n else (0.0, 0.0)
        table = [[h, n - h], [b - h, n_all - n - (b - h)]]
        p = float(stats.fisher_exact(table, alternative="greater")[1]) if n and b else 1.0
        ps.append(p)
        out.append(dict(cluster=c, summary=index.summaries[c], hits=h, rows=n, base_rate=rate,
                        enrichment=(h / n) / rate if n and rate else None,
                        ci_low=share_lo / rate if rate else None, ci_high=share_hi / rate if rate else None,
                        p_value=p))
    qs = bh_qvalues(ps)
    return [ClusterHits(**d, q_value=q) for d, q in zip(out, qs, strict=True)]


def trace_attributes(index: AttributeIndex, responses: VectorIndex, crux: list[str], crux_vectors: np.ndarray,
                     failing_clusters: set[int], chunk_of: Callable[[np.ndarray], list[str]], *,
                     behaviour: str, k: int, alpha: float) -> AttributeTrace:
    member = index.membership
    per_crux, union = [], []
    for text, vec in zip(crux, crux_vectors, strict=True):
        got = _nearest(responses, vec, k)
        rows = np.unique(index.response_row[got])
        union.append(rows)
        ranked = sorted(count(index, rows), key=lambda h: (-h.hits, h.q_value))
        per_crux.append(Crux(attribute=text, k=len(got), rows=len(rows), clusters=ranked[:10]))
    together = np.unique(np.concatenate(union)) if union else np.array([], dtype=np.int64)
    pooled = count(index, together)
    candidates = [h for h in pooled if h.cluster in failing_clusters] or pooled
    best = max(candidates, key=lambda h: (h.hits, -h.q_value)) if candidates else None
    trigger = None
    if best is not None and best.q_value <= alpha and (best.enrichment or 0) > 1:
        inside = together[member[together, best.cluster]]
        chunks = dict(Counter(chunk_of(inside)).most_common())
        trigger = AttributeTrigger(cluster=best.cluster, summary=best.summary, hits=best.hits,
                                   k=len(together), enrichment=best.enrichment, ci_low=best.ci_low,
                                   ci_high=best.ci_high, q_value=best.q_value, chunks=chunks)
    return AttributeTrace(crux=per_crux, failing_clusters=sorted(failing_clusters), trigger=trigger,
                          described_rows=len(index.rows),
                          statement=_statement(trigger, best, behaviour, alpha))


def _nearest(responses: VectorIndex, vec: np.ndarray, k: int) -> np.ndarray:
    """The k nearest, and every attribute tied with the k-th: which of equally near attributes
    FAISS returns first is an accident of insertion order, not of the data."""
    scores, ids = responses.search(vec[None, :], min(responses.size, 4 * k))
    s, i = scores[0], ids[0]
    if len(s) <= k:
        return i[i >= 0]
    return i[(s >= s[k - 1] - 1e-6) & (i >= 0)]


def _statement(t: AttributeTrigger | None, best: ClusterHits | None, behaviour: str, alpha: float) -> str:
    if t is None:
        if best is None:
            return f"No query cluster could be examined for '{behaviour}'."
        return (f"No query cluster is enriched among the rows nearest to the crux of '{behaviour}' "
                f"(best: '{best.summary}', {best.hits}/{best.rows} rows, q = {best.q_value:.2g} "
                f"> {alpha:g}).")
    where = ""
    if t.chunks:
        top, n = next(iter(t.chunks.items()))
        where = f", mostly from chunk {top} ({n}/{t.hits})"
    return (f"When the model sees '{t.summary}', it shows '{behaviour}': {t.hits}/{t.k} nearest rows, "
            f"{t.enrichment or 0:.1f}x its base rate{where}.")
