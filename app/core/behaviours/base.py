"""Scorer base class and score value."""

from __future__ import annotations

import asyncio
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


SCORE_TIMEOUT_SECONDS = 10.0


class Behaviour:
    """A scorer; `params` are JSON-serialisable and stored with the audit.

    CPU scorers implement `score_text`; `score` runs it in a worker thread under a time limit, so
    a response (which the target, not us, chose) never blocks the event loop or its heartbeats.
    Scorers that await something (a judge model) override `score` itself."""

    id: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    score_range: ClassVar[tuple[float, float]] = (0.0, 1.0)
    needs_auditor: ClassVar[bool] = False

    def __init__(self, **params: Any) -> None:
        self.params = params

    timeout_seconds: ClassVar[float] = SCORE_TIMEOUT_SECONDS
    # CPU scorers linear in the response (every built-in one; user regexes run on RE2) score a
    # response up to this long inline on the event loop, where a thread hop would cost more than
    # the scoring and a GIL hand-off; longer ones go to a thread. 0: always a thread.
    inline_max_chars: ClassVar[int] = 65_536

    def score_text(self, response: str, *, prompt: str) -> Score:
        raise NotImplementedError

    @property
    def blocking(self) -> bool:
        """True for CPU scorers: callers may batch `score_text` calls into one thread."""
        return type(self).score is Behaviour.score

    async def score(self, response: str, *, prompt: str) -> Score:
        try:
            return await asyncio.wait_for(asyncio.to_thread(self.score_text, response, prompt=prompt),
                                          self.timeout_seconds)
        except TimeoutError:
            return Score(False, error=f"scorer {self.id} took over {self.timeout_seconds:g}s")


async def score_all(behaviours: dict[str, Behaviour], response: str, *, prompt: str
                    ) -> dict[str, dict[str, Any]]:
    """Every behaviour's score of one response. CPU scorers score a short response inline and a
    long one in one shared worker-thread hop, under the longest of their time limits; scorers
    that await something (judges) are awaited in turn."""
    cpu = {n: b for n, b in behaviours.items() if b.blocking}
    inline = {n: b for n, b in cpu.items() if len(response) <= b.inline_max_chars}
    scored = {n: b.score_text(response, prompt=prompt) for n, b in inline.items()}
    cpu = {n: b for n, b in cpu.items() if n not in inline}
    if cpu:
        limit = max(b.timeout_seconds for b in cpu.values())

        def run() -> dict[str, Score]:
            return {n: b.score_text(response, prompt=prompt) for n, b in cpu.items()}

        try:
            scored |= await asyncio.wait_for(asyncio.to_thread(run), limit)
        except TimeoutError:
            slow = ", ".join(b.id for b in cpu.values())
            scored |= {n: Score(False, error=f"scorers {slow} took over {limit:g}s") for n in cpu}
    for n, b in behaviours.items():
        if n not in scored:
            scored[n] = await b.score(response, prompt=prompt)
    return {n: scored[n].as_dict() for n in behaviours}
