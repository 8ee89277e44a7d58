"""Semantic scorer: cosine similarity of the response to a described behaviour."""

from __future__ import annotations

import asyncio
from typing import Any

from app.core import embedder
from app.core.behaviours.base import Behaviour, Score
from app.core.behaviours.registry import behaviour


@behaviour("embedding.similarity", "embedding", "similar_to")
class EmbeddingSimilarity(Behaviour):
    """Response embedding within `threshold` cosine of `description` (offline MiniLM)."""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.description = str(params.get("description", ""))
        self.threshold = float(params.get("threshold", 0.5))
        self._anchor: Any = None

    async def score(self, response: str, *, prompt: str) -> Score:
        def sim() -> float:
            if self._anchor is None:
                self._anchor = embedder.encode([self.description])[0]
            vec = embedder.encode([response])[0]
            return float(vec @ self._anchor)

        value = await asyncio.to_thread(sim)
        return Score(value >= self.threshold, max(0.0, value), detail={"cosine": value})
