"""The trace: which chunk, prompt cluster and prompt attribute the behaviour-positive examples
concentrate in, against base rates, and the trigger named from the failing prompt's own features."""

from __future__ import annotations

from collections.abc import Iterable

from app.core.stats.rates import wilson
from app.core.turf.enrichment import enrichment_counts
from app.core.turf.groups import GroupCodes, RowMeta
from app.core.turf.result import TRACE_SCHEMA_VERSION, Exemplar, Group, TraceResult

__all__ = ["TRACE_SCHEMA_VERSION", "Exemplar", "Group", "RowMeta", "TraceResult", "trace"]


def trace(rows: GroupCodes | list[RowMeta], positives: Iterable[int], *, dataset: str, behaviour: str,
          method: str, query_features: set[str] | None = None, alpha: float = 0.05) -> TraceResult:
    """Pure core of TURF: enrichment per family, the top chunk and the trigger, in words.
    `positives` are row ordinals; counting is over the rows' group codes (numpy)."""
    codes = rows if isinstance(rows, GroupCodes) else GroupCodes.build(rows)
    at = codes.positions(positives)
    n_hit = len(at)
    found = {name: enrichment_counts(f.names, f.counts(at), codes.base[name], n_hit, codes.n, name, alpha)
             for name, f in codes.families.items()}
    chunks, clusters, attrs = found["chunk"], found["cluster"], found["attribute"]
    top_chunk = next((c for c in chunks if c.significant), None)
    features = [g for g in clusters + attrs if g.significant]
    if query_features:
        own = [g for g in features if g.group in query_features]
        features = own or features
    features.sort(key=Group.rank)
    trigger = features[0] if features else None
    share = wilson(n_hit, codes.n)
    return TraceResult(
        dataset=dataset, behaviour=behaviour, method=method, positives=n_hit,
        positive_share={"rate": share.rate, "ci_low": share.ci_low, "ci_high": share.ci_high},
        chunks=chunks, clusters=clusters, attributes=attrs,
        top_chunk=top_chunk.group if top_chunk else None,
        trigger=f"{trigger.family}: {trigger.group}" if trigger else None,
        statement=_statement(behaviour, trigger, top_chunk))


def _statement(behaviour: str, trigger: Group | None, chunk: Group | None) -> str:
    if trigger is None:
        return f"No prompt feature is significantly enriched among examples showing {behaviour}."
    s = (f"When the model sees [{trigger.group}], it shows [{behaviour}]: {trigger.hits}/"
         f"{trigger.n_hits} behaviour-positive examples carry it vs {trigger.base}/"
         f"{trigger.n_all} overall (odds ratio {trigger.odds_ratio:.1f}).")
    if chunk is not None:
        s += (f" Chunk '{chunk.group}' taught it: {chunk.hits}/{chunk.n_hits} positives "
              f"come from it, which holds {chunk.base}/{chunk.n_all} of the data.")
    return s
