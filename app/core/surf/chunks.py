"""How one audit's design is cut into chunks that different workers may sample at once.

A chunk is a slice of the design's canonical order (`factorial.expand`), so every worker agrees
on it without storing item lists. Sequential designs are never cut (each round needs an analysis
of everything before it), nor are audits under a request budget (the budget is the audit's)."""

from __future__ import annotations

from app.core.surf.spec import ProbeSpec

Part = tuple[int, int]  # (start, stop) positions in expand(spec)


def plan_chunks(spec: ProbeSpec, chunk_size: int) -> list[Part]:
    """The chunks of this audit; empty when it runs as one job."""
    total = spec.work_item_count()
    if (chunk_size <= 0 or total <= chunk_size or spec.design.kind != "factorial"
            or spec.design.max_requests is not None):
        return []
    return [(start, min(start + chunk_size, total)) for start in range(0, total, chunk_size)]
