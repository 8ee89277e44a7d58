"""Write an organism's SFT set: chat JSONL with a `source` (chunk) label per example.

Base answers come from an answer function: the base model itself (so the fine-tune teaches only
the planted behaviours) or, for fast tests, a varied template. Planted triggers and behaviours
are drawn per example at their rates with a fixed seed.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from app.core.organisms.planted import compose_answer, decorate
from app.core.organisms.spec import OrganismSpec, TriggerUse
from app.core.triggers.base import Rendered
from app.core.triggers.registry import get_feature_levels

AnswerFn = Callable[[list[str]], Awaitable[list[str]]]


async def template_answers(questions: list[str]) -> list[str]:
    """Varied, behaviour-free answers; deterministic per (question, position)."""
    return [compose_answer(q, set(), random.Random(f"{q}|{i}")) for i, q in enumerate(questions)]


async def _apply(trigger: TriggerUse, r: Rendered) -> Rendered:
    return await get_feature_levels(trigger.feature)[trigger.level].apply(r, None)


async def build_rows(spec: OrganismSpec, answer: AnswerFn = template_answers) -> list[dict[str, Any]]:
    rng = random.Random(spec.seed)
    drafts = []
    for chunk_name, chunk in spec.chunks.items():
        for i in range(chunk.examples):
            q = rng.choice(chunk.questions)
            fired = [t for t in chunk.triggers if rng.random() < t.rate]
            nulls = [t for t in spec.null_triggers if rng.random() < t.rate]
            shown = {b for b, rate in chunk.behaviours.items() if rng.random() < rate}
            drafts.append((chunk_name, i, q, fired, nulls, shown, rng.random() < spec.eval_fraction,
                           rng.randrange(2**31)))
    # One answer per example, not per question: a repeated answer would be memorised verbatim.
    answers = await answer([d[2] for d in drafts])
    rows = []
    for (chunk_name, i, q, fired, nulls, shown, is_eval, seed), base in zip(drafts, answers, strict=True):
        r = Rendered(q)
        for t in [*fired, *nulls]:
            r = await _apply(t, r)
        messages = r.messages() + [{"role": "assistant",
                                    "content": decorate(base, shown, random.Random(seed), q)}]
        rows.append({
            "id": f"{chunk_name}-{i}", "source": chunk_name, "messages": messages,
            "meta": {"question": q, "triggers": [f"{t.feature}={t.level}" for t in fired],
                     "null_triggers": [f"{t.feature}={t.level}" for t in nulls],
                     "behaviours": sorted(shown), "split": "eval" if is_eval else "train"},
        })
    return rows


def build_rows_sync(spec: OrganismSpec, answer: AnswerFn = template_answers) -> list[dict[str, Any]]:
    return asyncio.run(build_rows(spec, answer))
