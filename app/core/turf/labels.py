"""Name prompt clusters by their most distinctive terms (in-cluster vs overall frequency)."""

from __future__ import annotations

import math
import re
from collections import Counter

WORD_RE = re.compile(r"<[a-z_]{1,30}>|\[[a-z]{1,30}:|[a-zà-ÿ]{3,30}")  # bounded: a label is a few words
IGNORE = {"the", "and", "what", "how", "why", "does", "are", "you", "your", "for", "with", "this",
          "that", "can", "about", "its", "from", "have", "was", "were", "which", "who", "when"}


def terms(text: str) -> set[str]:
    return {w for w in WORD_RE.findall(text.lower()) if w not in IGNORE}


class ClusterTerms:
    """Streaming document frequencies per cluster; memory grows with vocabulary, not rows."""

    def __init__(self) -> None:
        self.overall: Counter[str] = Counter()
        self.by_cluster: dict[int, Counter[str]] = {}
        self.sizes: Counter[int] = Counter()

    def add(self, text: str, cluster: int) -> None:
        t = terms(text)
        self.overall.update(t)
        self.by_cluster.setdefault(cluster, Counter()).update(t)
        self.sizes[cluster] += 1

    def labels(self, top: int = 3) -> dict[int, str]:
        n = sum(self.sizes.values())
        out = {}
        for c, counts in self.by_cluster.items():
            def lift(t: str, counts: Counter[str] = counts, size: int = self.sizes[c]) -> float:
                return (counts[t] / size) * math.log((n + 1) / (self.overall[t] + 1))

            best = sorted(counts, key=lambda t: (-lift(t), t))[:top]
            out[c] = " · ".join(best) if best else f"cluster {c}"
        return out
