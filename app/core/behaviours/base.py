"""Scorer base class and score value."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass
class Score:
    """`elicited` feeds the statistics; `score` is the scorer's graded value (0–1, or 0–100 for judges)."""

    elicited: bool
    score: float | None = None
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"elicited": self.elicited, "score": self.score}
        if self.error:
            out["error"] = self.error
        if self.detail:
            out["detail"] = self.detail
        return out


class Behaviour:
    """A scorer; `params` are JSON-serialisable and stored with the audit."""

    id: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    score_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    needs_auditor: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        self.params = params

    async def score(self, response: str, *, prompt: str) -> Score:
        raise NotImplementedError
